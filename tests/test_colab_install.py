"""A Colab-like install: a fresh virtual environment holding only what Colab preinstalls that matters
here (tests/colab/preinstalled.txt), then notebook 01's own first cell, pointed at this checkout, in a
kernel that believes it runs in Colab. The course installs without replacing torch, the bundled MNIST
comes with it, and notebook 01 (with its hidden tests) runs to the end.

The preinstalled packages are linked from the course's own environment (hard links, or symbolic
links across file systems): installing torch afresh would take minutes and gigabytes. Everything
the course package needs beyond them comes from the package index, as in Colab.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.requirements import Requirement

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))

from colab import PACKAGE_LINE  # noqa: E402  the line `make colab` rewrites

PREINSTALLED = Path(__file__).parent / "colab" / "preinstalled.txt"
NOTEBOOK = ROOT / "solutions" / "01-l1-unstructured" / "01-l1-unstructured.ipynb"


def preinstalled() -> dict[str, str]:
    """``{name: version}`` from tests/colab/preinstalled.txt."""
    pins = {}
    for line in PREINSTALLED.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def closure(names: list[str]) -> list[metadata.Distribution]:
    """These installed distributions and everything they require, with the extras asked for (torch
    asks for ``cuda-toolkit[cublas, ...]``), markers evaluated for this machine."""
    seen, todo, found = set(), [(name, frozenset()) for name in names], {}
    while todo:
        name, extras = todo.pop()
        key = (re.sub(r"[-_.]+", "-", name).lower(), extras)
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        found[key[0]] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                                 for extra in ("", *extras)):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return list(found.values())


def link_into(dist: metadata.Distribution, site: Path) -> None:
    """Link every file of ``dist`` that lives in site-packages into ``site``."""
    for file in dist.files or []:
        if file.parts[0] == "..":  # console scripts and the like, outside site-packages
            continue
        source, target = Path(dist.locate_file(file)), site / file
        if not source.is_file() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            target.symlink_to(source)


def test_colab_like_install_keeps_torch_and_runs_notebook_01(tmp_path, monkeypatch):
    pins = preinstalled()
    for name, version in pins.items():
        assert metadata.version(name) == version, (
            f"tests/colab/preinstalled.txt says {name}=={version}; the course's environment has "
            f"{metadata.version(name)}: update the file")
    # A fresh environment with only the "preinstalled" packages.
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"

    def run(code: str) -> subprocess.CompletedProcess:  # outside the checkout: no `helpers` on the path
        return subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True)

    site = Path(run("import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    for dist in closure(list(pins)):
        link_into(dist, site)
    assert run("import helpers").returncode != 0, "the fresh environment must not have the course yet"
    torch_before = run("import torch; print(torch.__version__, torch.__file__)").stdout.strip()
    assert torch_before.startswith(pins["torch"]), torch_before

    # A clean copy of the course to install from: what a hosted repository holds.
    source = tmp_path / "course"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", "build", ".pytest_cache", "gradebook.db", "submitted",
        "autograded", "feedback", ".grading"))

    # Notebook 01 (the solution, hidden tests included), its install cell pointed at that copy, in Colab.
    nb = nbformat.read(NOTEBOOK, as_version=4)
    install = next(c for c in nb.cells if c.cell_type == "code" and PACKAGE_LINE.search(c.source))
    install.source = PACKAGE_LINE.sub(f'COURSE_PACKAGE = "file://{source}"', install.source)
    install.source = install.source.replace('%pip install -q "', '%pip install "')  # keep pip's report
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        'import sys, types\nsys.modules["google.colab"] = types.ModuleType("google.colab")  # "in Colab"'))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json, helpers, torch\nfrom helpers import data\n"
        "print(json.dumps({'helpers': helpers.__file__, 'mnist': data.PACKAGED_MNIST.is_dir(), "
        "'torch': f'{torch.__version__} {torch.__file__}'}))"))
    kernels = tmp_path / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PRUNING_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    client = NotebookClient(nb, timeout=600, kernel_name="colab", resources={"metadata": {"path": str(work)}})
    client.execute()

    pip_report = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.output_type == "stream")
    assert "Successfully installed" in pip_report and "pruning-workbook" in pip_report, pip_report[-3000:]
    assert not re.search(r"Uninstalling torch-|Successfully installed.*\btorch-\d", pip_report), (
        f"the install replaced Colab's torch:\n{pip_report[-3000:]}")
    facts = json.loads(nb.cells[-1].outputs[-1]["text"])
    assert facts["torch"] == torch_before, "torch is still the preinstalled one"
    assert Path(facts["helpers"]).is_relative_to(site), f"helpers comes from the install: {facts['helpers']}"
    assert facts["mnist"], "the bundled MNIST digits come with the package"
    assert sysconfig.get_paths()["purelib"] != str(site)
