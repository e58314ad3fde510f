"""Reading notebook cells as code: IPython syntax, the names a cell defines and reads, the visible
and hidden parts of a test cell, and which course cells the tests need."""

from __future__ import annotations

import ast
import re

from IPython.core.inputtransformer2 import TransformerManager

HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*\n?",
    re.MULTILINE | re.DOTALL,
)


def exercise_of(grade_id: str) -> str:
    """``ex2-prune-layer-tests`` -> ``ex2``: the exercise a cell belongs to (the course's convention)."""
    return grade_id.split("-", 1)[0]


def python_source(source: str) -> str:
    """A cell's code as plain Python (``%pip``, ``!ls`` become calls)."""
    return TransformerManager().transform_cell(source)


def parse_cell(source: str) -> ast.Module:
    """A cell's code as Python, IPython syntax translated; empty if invalid."""
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def split_test(source: str) -> tuple[str, str]:
    """``(visible, hidden)``: a test cell's code without its hidden part, and the hidden part.

    The visible part keeps its line numbers (the hidden lines become blank lines), so that a failing
    visible assert is reported at the line the learner sees.
    """
    hidden = "".join(m.group(1) for m in HIDDEN.finditer(source))
    visible = HIDDEN.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    return visible, hidden


def visible_source(source: str) -> str:
    """What a learner sees of a test cell: nbgrader's release without the hidden part."""
    return HIDDEN.sub("", source).rstrip("\n")


def defined_names(source: str) -> list[str]:
    """Top-level names a cell defines (functions, classes, assignments, imports)."""
    names: list[str] = []
    for node in parse_cell(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def _stores_and_loads(tree: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """Names stored, names read, and names possibly changed in place (call arguments, method
    receivers, attribute or item assignment) by a cell."""
    stores, loads, touched = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stores if isinstance(node.ctx, ast.Store | ast.Del) else loads).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stores.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            stores.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                touched.update(_root_names(arg))
            if isinstance(node.func, ast.Attribute):
                touched.update(_root_names(node.func.value))
        elif isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            touched.update(_root_names(node.value))
    return stores, loads, touched


def _root_names(node: ast.AST) -> set[str]:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def needed_cells(sources: list[str], tests: list[int], answers: dict[int, list[str]]) -> set[int]:
    """Indices of the course cells the test cells ``tests`` need, directly or through each other.

    A course cell is needed when it imports, defines a name a needed cell reads, or may change such
    a name's object in place. ``answers`` (answer cell index -> names it defines) marks names the
    learner's side provides: they end the search.
    """
    trees = [parse_cell(s) for s in sources]
    facts = [_stores_and_loads(t) for t in trees]
    needed: set[str] = set()
    chosen: set[int] = set()
    for index in range(len(sources) - 1, -1, -1):
        stores, loads, touched = facts[index]
        if index in tests:
            needed |= loads
            continue
        if index in answers:
            needed -= set(answers[index])
            continue
        imports = any(isinstance(n, ast.Import | ast.ImportFrom) for n in trees[index].body)
        if imports or stores & needed or touched & needed:
            chosen.add(index)
            needed |= loads
    return chosen
