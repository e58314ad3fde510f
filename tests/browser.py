"""Drive the learner's JupyterLab in headless Chromium (Selenium): start it, open a notebook, run it.

Used by tests/test_browser.py and by ``python tests/browser.py OUT.png`` (the README's screenshot).
JupyterLab is started as ``make lab`` starts it (``jupyter lab`` on a folder of released notebooks),
on a free local port with a random token, its runtime and workspace files in a temporary folder, and
is always shut down (SIGTERM to its process group, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TRACEBACK = "Traceback (most recent call last)"


def chromium() -> tuple[str, str] | None:
    """Paths of Chromium and its WebDriver, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(folder: Path, workdir: Path, timeout: float = 120, raw: bool = False) -> Iterator[str]:
    """Run JupyterLab on ``folder``; yield a URL template for a file (``/lab/tree/{path}``, or any
    ``{path}`` of the server with ``raw``) with the token; always shut it down."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(workdir / "settings")}
    settings = workdir / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", '
                                                               '"checkForUpdates": false}')
    command = [str(BIN / "jupyter"), "lab", str(folder), "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (workdir / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              cwd=folder)  # nbgrader's formgrader reads nbgrader_config.py from here
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_tail = (workdir / "jupyterlab.log").read_text()[-2000:]
                    raise RuntimeError(f"JupyterLab did not start: {log_tail}") from None
                time.sleep(0.5)
        yield f"{url}/{{path}}?token={token}" if raw else f"{url}/lab/tree/{{path}}?token={token}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000):
    """A headless Chromium driven by Selenium; always quit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium()
    if paths is None:
        raise RuntimeError("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _click_menu(driver, menu: str, item: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 30)
    wait.until(expected_conditions.element_to_be_clickable(
        (By.XPATH, f"//li[contains(@class, 'lm-MenuBar-item')]//div[text()='{menu}']"))).click()
    wait.until(expected_conditions.element_to_be_clickable(
        (By.XPATH, f"//li[contains(@class, 'lm-Menu-item')]//div[contains(@class, 'lm-Menu-itemLabel')]"
                   f"[text()='{item}']"))).click()


def _prompts(driver) -> list[str]:
    prompts = driver.find_elements("css selector", ".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    return [p.text.strip() for p in prompts]


def _wait_idle(driver, timeout: float) -> None:
    """Wait until no code cell is queued or running ([*]) and the prompts stop changing."""
    deadline, last, stable = time.monotonic() + timeout, None, 0
    while time.monotonic() < deadline:
        prompts = _prompts(driver)
        busy = any("*" in p for p in prompts)
        stable = stable + 1 if (prompts == last and not busy) else 0
        if stable >= 4:
            return
        last = prompts
        time.sleep(0.5)
    raise TimeoutError(f"the notebook was still running after {timeout} s: {last}")


def cells(driver) -> list[dict]:
    """Every code cell as the page shows it: its prompt, its error text (if any), how many images."""
    found = []
    for cell in driver.find_elements("css selector", ".jp-Notebook .jp-CodeCell"):
        outputs = cell.find_elements("css selector", ".jp-OutputArea-output")
        errors = [o.text for o in outputs if TRACEBACK in o.text]
        found.append({"prompt": cell.find_element("css selector", ".jp-InputPrompt").text.strip(),
                      "error": errors[0] if errors else None,
                      "images": len(cell.find_elements("css selector", ".jp-OutputArea-output img"))})
    return found


def run_all(driver, url: str, notebook: str, timeout: float = 600) -> list[dict]:
    """Open ``notebook``, choose Run > Run All Cells; where a cell fails, go on from the next one, as a
    learner would (Run > Run Selected Cell and All Below). Return :func:`cells` at the end."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url.format(path=notebook))
    WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located(
        ("css selector", ".jp-Notebook .jp-CodeCell")))
    WebDriverWait(driver, 120).until(  # the kernel has started: the status bar says "... | Idle"
        lambda d: "| Idle" in d.find_element("css selector", "#jp-main-statusbar").get_attribute("innerText"))
    deadline = time.monotonic() + timeout
    _click_menu(driver, "Run", "Run All Cells")
    _wait_idle(driver, deadline - time.monotonic())
    while True:
        code_cells = driver.find_elements("css selector", ".jp-Notebook .jp-CodeCell")
        prompts = [c.find_element("css selector", ".jp-InputPrompt").text.strip() for c in code_cells]
        pending = [i for i, p in enumerate(prompts) if p in ("[ ]:", "")]
        if not pending:
            return cells(driver)
        code_cells[pending[0]].find_element("css selector", ".jp-InputPrompt").click()
        _click_menu(driver, "Run", "Run Selected Cell and All Below")
        _wait_idle(driver, deadline - time.monotonic())
        if _prompts(driver) == prompts:
            raise RuntimeError(f"running from cell {pending[0]} changed nothing: {prompts}")


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "jupyterlab.png").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "notebooks"
        shutil.copytree(ROOT / "notebooks", folder)
        with jupyterlab(folder, Path(tmp)) as url, browser() as driver:
            result = run_all(driver, url, "01-l1-unstructured/01-l1-unstructured.ipynb")
            images = driver.find_elements("css selector", ".jp-OutputArea-output img")
            if images:  # show the figure, with the check that stopped on the stub above it
                driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", images[0])
                time.sleep(1)
            driver.get_screenshot_as_file(str(target))
    for cell in result:
        images = f"{cell['images']} image(s)" if cell["images"] else ""
        print(cell["prompt"], "error" if cell["error"] else "", images)
