"""Screening of the learner's cells, on the trusted side, from their source alone.

Constructs that have no place in an honest answer flag the exercise as *needs manual grading*,
with the reason, so that formgrader shows it to the instructor. Screening never changes a score:
the verdict comes from the tests, and the instructor decides what a flag means.

Flagged: ``exec``, ``eval``, ``compile``, ``__import__``, ``globals``, ``locals``, ``vars``,
``breakpoint`` and ``get_ipython`` (also what ``%magics`` and ``!commands`` become); importing
``importlib``, ``inspect``, ``gc``, ``ctypes``, ``builtins``, ``sys`` internals, ``subprocess``,
``signal``, ``socket``, ``threading``, ``multiprocessing``, ``pickle``, ``marshal`` or ``types``;
frame and code attributes (``f_back``, ``f_globals``, ``tb_frame``, ...); ``sys`` and ``os``
internals (``sys._getframe``, ``sys.modules``, ``os._exit``, ``os.kill``, ...); any other dunder
attribute than those in :data:`DUNDERS`; and a call of the exercise's own reference helper in
``helpers/`` (the function whose docstring says "Reference for NN, exercise K").
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .cells import parse_cell

DUNDERS = frozenset({"__init__", "__name__", "__qualname__", "__doc__"})
CALLS = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "get_ipython",
        "setattr",
        "delattr",
    }
)
MODULES = frozenset(
    {
        "importlib",
        "inspect",
        "gc",
        "ctypes",
        "builtins",
        "subprocess",
        "signal",
        "socket",
        "threading",
        "multiprocessing",
        "pickle",
        "marshal",
        "types",
        "_thread",
        "pty",
        "code",
    }
)
FRAME_ATTRS = frozenset(
    {
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "tb_frame",
        "tb_next",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "co_code",
        "func_globals",
    }
)
SYSTEM_ATTRS = {
    "sys": frozenset(
        {
            "_getframe",
            "modules",
            "settrace",
            "setprofile",
            "addaudithook",
            "meta_path",
            "path_hooks",
            "displayhook",
            "excepthook",
            "stdout",
            "stderr",
            "exit",
            "path",
        }
    ),
    "os": frozenset(
        {
            "_exit",
            "kill",
            "killpg",
            "fork",
            "system",
            "popen",
            "execv",
            "execve",
            "execl",
            "execvp",
            "spawnl",
            "posix_spawn",
            "environ",
            "setuid",
            "chdir",
            "remove",
            "unlink",
            "rmdir",
        }
    ),
}
# Printing to stderr is honest: `sys.stderr` in a print() call is not flagged.
REFERENCE = re.compile(r"Reference for (\d\d), exercise (\d+)")


def references(helpers_dir: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """``{("01", "ex1"): ("pruning", "sparsity"), ...}`` read from the helpers' docstrings."""
    found = {}
    for path in sorted(helpers_dir.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                match = REFERENCE.search(ast.get_docstring(node) or "")
                if match:
                    found[(match.group(1), f"ex{match.group(2)}")] = (path.stem, node.name)
    return found


def screen(source: str, reference: tuple[str, str] | None = None) -> list[str]:
    """The reasons this cell needs a human look, in the order found (none for an honest cell)."""
    tree = parse_cell(source)
    reasons: list[str] = []
    stderr_ok = _stderr_in_print(tree)

    def note(node: ast.AST, what: str) -> None:
        reason = f"line {getattr(node, 'lineno', '?')}: {what}"
        if reason not in reasons:
            reasons.append(reason)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in CALLS:
            note(node, f"uses {node.id}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in MODULES:
                    note(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in MODULES:
                note(node, f"imports from {node.module}")
            if node.module in ("sys", "os"):
                for alias in node.names:
                    if alias.name in SYSTEM_ATTRS[node.module] and alias.name != "stderr":
                        note(node, f"imports {node.module}.{alias.name}")
            if (
                reference
                and node.module == f"helpers.{reference[0]}"
                and any(a.name == reference[1] for a in node.names)
            ):
                note(node, f"imports this exercise's reference helper {reference[0]}.{reference[1]}")
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr.startswith("__") and attr.endswith("__") and attr not in DUNDERS:
                note(node, f"uses the attribute {attr}")
            elif attr in FRAME_ATTRS:
                note(node, f"uses the frame attribute {attr}")
            elif isinstance(node.value, ast.Name) and node.value.id in SYSTEM_ATTRS:
                if attr in SYSTEM_ATTRS[node.value.id] and id(node) not in stderr_ok:
                    note(node, f"uses {node.value.id}.{attr}")
            if (
                reference
                and attr == reference[1]
                and isinstance(node.value, ast.Name)
                and node.value.id == reference[0]
            ):
                note(node, f"calls this exercise's reference helper {reference[0]}.{reference[1]}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"__\w+__", node.value)
            and node.value not in DUNDERS
        ):
            note(node, f"names the attribute {node.value}")
    return reasons


def _stderr_in_print(tree: ast.AST) -> set[int]:
    """``sys.stderr`` / ``sys.stdout`` nodes used as ``print(..., file=...)``: honest output."""
    ok = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            for keyword in node.keywords:
                if keyword.arg == "file" and isinstance(keyword.value, ast.Attribute):
                    ok.add(id(keyword.value))
    return ok
