"""The learner's real path: notebook 01 in JupyterLab (as `make lab` starts it), in headless Chromium.

Run > Run All Cells on the released notebook, exercises untouched; where a cell stops, go on from the
next one, as a learner would. Every cell runs; the only errors are the untouched stubs'
NotImplementedError (in each exercise's visible check, and in cells that use an unwritten answer);
the figure renders as an image. A screenshot is saved in the test's temporary folder.
"""

import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import browser
import nbformat
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    browser.chromium() is None, reason="needs chromium and chromedriver (make browser installs them)")]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01-l1-unstructured/01-l1-unstructured.ipynb"


def test_notebook_01_runs_in_jupyterlab_with_only_the_stubs_failing(tmp_path):
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    with browser.jupyterlab(folder, tmp_path) as url, browser.browser() as driver:
        cells = browser.run_all(driver, url, NOTEBOOK)
        driver.get_screenshot_as_file(str(tmp_path / "jupyterlab-01.png"))
    port = urlparse(url).port
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "JupyterLab was shut down"
    assert (tmp_path / "jupyterlab-01.png").stat().st_size > 10_000

    notebook = nbformat.read(folder / NOTEBOOK, as_version=4)
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert len(cells) == len(sources), f"the page shows {len(cells)} code cells, the file has {len(sources)}"
    for cell, source in zip(cells, sources, strict=True):
        cell["source"] = source
    assert len(cells) >= 10 and all(c["prompt"].strip("[]:").isdigit() for c in cells), (
        f"every code cell ran: {[c['prompt'] for c in cells]}")
    checks = [c for c in cells if c["source"].lstrip().startswith('"""Check that')]
    assert len(checks) == 3, f"notebook 01 has three visible checks, found {len(checks)}"
    for check in checks:
        assert check["error"] and "NotImplementedError" in check["error"], (
            f"the visible check reports the untouched stub: {check['source'][:80]!r} gave {check['error']!r}")
    for cell in cells:
        if cell["error"]:
            stub = "NotImplementedError" in cell["error"] and "raise NotImplementedError()" in cell["error"]
            assert stub, (
                f"only untouched stubs may fail: {cell['source'][:80]!r} gave\n{cell['error'][-600:]}")
    figures = [c for c in cells if c["images"]]
    assert figures and not any(c["error"] for c in figures), "the figure renders as an image"
