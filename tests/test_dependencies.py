"""Every module the notebooks and helpers import is declared: standard library, the course's own
packages, or a distribution listed in pyproject.toml.

A module that happens to be installed (because some declared package depends on it) is not
declared: a learner's fresh environment (Colab, a plain ``pip install``) need not have it. Modules
that only the ``course`` extra provides (ONNX, nbgrader, ...) must be imported where a missing
package is handled: inside a ``try`` that catches ``ImportError``, or inside a function that the
code calls only when it needs them.
"""

import ast
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OWN_PACKAGES = {"helpers", "grading"}
NOTEBOOK_RUNTIME = {"IPython"}  # a notebook runs in an IPython kernel: it is there wherever a notebook runs
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def distribution_name(requirement: str) -> str:
    """The normalised distribution name of a requirement (``"torch_pruning>=1.5"`` -> ``torch-pruning``)."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


REQUIRED = {distribution_name(r) for r in PYPROJECT["project"]["dependencies"]}
COURSE_EXTRA = {distribution_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["course"]}
PROVIDERS = {module: {distribution_name(d) for d in dists}
             for module, dists in metadata.packages_distributions().items()}


def notebook_cells(path: Path) -> list[str]:
    """The source of each code cell of a notebook, without IPython's ``%`` and ``!`` lines."""
    cells = json.loads(path.read_text())["cells"]
    return ["\n".join(line for line in "".join(cell["source"]).splitlines()
                      if not line.lstrip().startswith(("%", "!")))
            for cell in cells if cell["cell_type"] == "code"]


def _handles_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if any(isinstance(n, ast.Name) and n.id in IMPORT_ERRORS for n in names):
            return True
    return False


def imports(source: str) -> list[tuple[str, int, bool]]:
    """``(top-level module, line, guarded)`` for every absolute import in ``source``.

    ``guarded``: the import sits in the body of a ``try`` that catches ``ImportError`` (or
    ``ModuleNotFoundError``), or inside a function.
    """
    found = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node.lineno, guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno, guarded))
        if isinstance(node, ast.Try) and _handles_import_error(node):
            for child in node.body:
                visit(child, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        inner = guarded or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def undeclared_imports(source: str, where: str, runtime: frozenset[str] = frozenset()) -> list[str]:
    """One message per import in ``source`` that pyproject.toml does not cover (empty when all are)."""
    problems = []
    for module, line, guarded in imports(source):
        if module in sys.stdlib_module_names or module in OWN_PACKAGES or module in runtime:
            continue
        providers = PROVIDERS.get(module, set())
        if providers & REQUIRED:
            continue
        if providers & COURSE_EXTRA:
            if not guarded:
                problems.append(f"{where} {line}: `{module}` comes only with the `course` extra "
                                f"({', '.join(sorted(providers & COURSE_EXTRA))}): import it inside a try "
                                "that catches ImportError and says what to install, or add it to "
                                "[project] dependencies")
            continue
        provided_by = (f"installed as {', '.join(sorted(providers))}, but pyproject.toml does not declare it"
                       if providers else "no installed distribution provides it")
        problems.append(f"{where} {line}: `{module}` is {provided_by}: add its distribution to "
                        "[project] dependencies in pyproject.toml")
    return problems


NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb"))
HELPERS = sorted((ROOT / "helpers").rglob("*.py"))


def test_there_is_something_to_check():
    assert len(NOTEBOOKS) >= 3 and len(HELPERS) >= 3, (NOTEBOOKS, HELPERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_notebook_imports_are_declared(path):
    problems = [problem for i, source in enumerate(notebook_cells(path))
                for problem in undeclared_imports(source, f"{path.name}, code cell {i + 1}, line",
                                                  frozenset(NOTEBOOK_RUNTIME))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", HELPERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_helper_imports_are_declared(path):
    problems = undeclared_imports(path.read_text(), f"{path.relative_to(ROOT)}, line")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("source", "undeclared"), [
    ("import torch\nfrom torch import nn\nimport json", []),
    ("from helpers import data, pruning\nfrom lightning.pytorch import Trainer", []),
    ("%pip install -q some-package\n!ls\nimport numpy as np", []),
    ("import definitely_not_a_course_package", ["definitely_not_a_course_package"]),
    ("import yaml  # installed (Lightning needs PyYAML), not declared", ["yaml"]),
    ("def f():\n    import yaml\n", ["yaml"]),
    ("import onnx", ["onnx"]),
    ("try:\n    import onnx\nexcept ImportError:\n    onnx = None", []),
    ("try:\n    import onnx\nexcept ValueError:\n    pass", ["onnx"]),
    ("def export():\n    import onnxruntime\n    return onnxruntime", []),
    ("from IPython.display import Markdown", ["IPython"]),
    ("from . import sibling\nimport os.path", []),
])
def test_undeclared_imports_are_found(tmp_path, source, undeclared):
    """The check itself: it passes declared imports and fails a fake notebook importing others."""
    path = tmp_path / "fake.ipynb"
    cells = [{"cell_type": "code", "source": source.splitlines(keepends=True), "metadata": {}},
             {"cell_type": "markdown", "source": ["import nothing_in_markdown"], "metadata": {}}]
    path.write_text(json.dumps({"cells": cells}))
    problems = [p for source in notebook_cells(path) for p in undeclared_imports(source, path.name)]
    assert [re.search(r"`([^`]+)`", p).group(1) for p in problems] == undeclared, problems


def test_notebooks_may_use_their_kernel():
    assert undeclared_imports("from IPython.display import Markdown", "fake.ipynb",
                              frozenset(NOTEBOOK_RUNTIME)) == []

