"""Hosting for Colab: `make colab REPO=owner/name` rewrites every notebook's install cell and the README's
badges; without it, the first cell stops in Colab with a message saying what to set."""

import json
import shutil
import sys
import types
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))

import colab  # noqa: E402


@pytest.fixture
def course(tmp_path):
    """A copy of the notebooks and the README to rewrite."""
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def first_code_cell(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def run_in_fake_colab(source: str, monkeypatch) -> list[tuple[str, str]]:
    """Execute a cell as IPython would, with google.colab imported; return the line magics it ran."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    magics, namespace = [], {}
    # IPython expands {variables} in a magic's line from the user's namespace; so does this stand-in.
    shell = types.SimpleNamespace(
        run_line_magic=lambda name, line, *rest: magics.append((name, line.format(**namespace))))
    namespace["get_ipython"] = lambda: shell
    exec(TransformerManager().transform_cell(source), namespace)
    return magics


@pytest.mark.parametrize("notebook", sorted(p.relative_to(ROOT).as_posix()
                                            for p in ROOT.glob("notebooks/*/*.ipynb")))
def test_unhosted_notebook_says_what_to_set_in_colab(notebook, monkeypatch):
    source = first_code_cell(ROOT / notebook)
    assert 'COURSE_PACKAGE = ""' in source, "the released notebooks carry no placeholder URL"
    with pytest.raises(RuntimeError, match=r"Set COURSE_PACKAGE .*make colab REPO=<owner>/<repo>"):
        run_in_fake_colab(source, monkeypatch)


def test_first_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    source = first_code_cell(ROOT / "notebooks/01-l1-unstructured/01-l1-unstructured.ipynb")
    exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: None})


def test_make_colab_points_every_notebook_and_the_badges_at_the_repository(course, monkeypatch):
    before = {p: json.loads(p.read_text()) for p in colab.notebooks(course)}
    assert colab.main(["my-org/pruning-course", "--root", str(course)]) == 0
    for path, old in before.items():
        new = json.loads(path.read_text())
        source = first_code_cell(path)
        assert 'COURSE_PACKAGE = "git+https://github.com/my-org/pruning-course"' in source
        magics = run_in_fake_colab(source, monkeypatch)
        assert magics and magics[0][0] == "pip" and \
            '"pruning-workbook @ git+https://github.com/my-org/pruning-course"' in magics[0][1], magics
        changed = [i for i, (a, b) in enumerate(zip(old["cells"], new["cells"], strict=True)) if a != b]
        assert changed == [1], f"{path.name}: only the install cell changes, not cells {changed}"
    readme = (course / "README.md").read_text()
    links = [line for line in readme.splitlines() if "colab.research.google.com/github/" in line]
    assert len(links) == len(list((course / "notebooks").glob("*/*.ipynb")))
    assert ("https://colab.research.google.com/github/my-org/pruning-course/blob/main/"
            "notebooks/01-l1-unstructured/01-l1-unstructured.ipynb") in readme
    assert colab.main(["my-org/pruning-course", "--branch", "v2", "--root", str(course)]) == 0
    readme = (course / "README.md").read_text()
    assert readme.count(colab.START) == 1 and "/blob/v2/notebooks/" in readme and "/blob/main/" not in readme


@pytest.mark.parametrize("repo", ["", "pruning-course", "https://github.com/a/b", "a/b/c", "a/b.git", "-a/b"])
def test_make_colab_refuses_what_is_not_owner_slash_name(course, repo, capsys):
    before = (course / "README.md").read_text()
    assert colab.main(["--root", str(course), "--", repo]) == 2
    assert "REPO must be a GitHub repository as owner/name" in capsys.readouterr().err
    assert (course / "README.md").read_text() == before, "nothing is changed"
