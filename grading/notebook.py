"""Notebooks for grading: the template made from the source, the scores (from the trusted side's
test runs and the template's points only) and the scored notebook (nbgrader's ``generate_feedback``
makes the learner's page from it and the gradebook).

The *template* is the source notebook with the solutions cleared by nbgrader (stubs, as released)
and the hidden tests kept. It stays on the trusted side: the sandbox never sees it.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import ClearOutput, ClearSolutions, ComputeChecksums, LimitOutput

from .cells import visible_source
from .trusted import Grader, exercise_of, grade_id

STUB = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
WITHHELD = "(Output withheld: this cell ran after hidden checks, and its output could show their inputs.)\n"


def make_template(source: Path) -> nbformat.NotebookNode:
    """The source notebook with its solutions cleared (hidden tests kept), as nbgrader would, with
    the checksums by which nbgrader tells an unanswered written answer."""
    nb = nbformat.read(source, as_version=4)
    nb, _ = ClearSolutions(code_stub=STUB, enforce_metadata=True).preprocess(nb, {})
    nb, _ = ClearOutput().preprocess(nb, {})
    nb, _ = ComputeChecksums().preprocess(nb, {})
    return nb


def score(template: nbformat.NotebookNode, grader: Grader) -> dict[str, dict]:
    """``{grade_id: {score, max_score, exercise, message}}`` for every graded cell of the template.

    A test cell scores its points when its visible and hidden parts pass; an exercise with a
    problem (crash, time-out) scores 0 with the problem as its message; a written answer waits for
    manual grading (score None).
    """
    scores = {}
    for cell in template.cells:
        if not utils.is_grade(cell):
            continue
        gid = grade_id(cell)
        points = float(cell.metadata.nbgrader.get("points", 0) or 0)
        result = grader.results.get(gid)
        if utils.is_solution(cell):
            got, message = None, None
        else:
            passed = bool(result and result["passed"])
            got, message = (points if passed else 0.0), (result or {}).get("message")
        problem = grader.problems.get(exercise_of(gid))
        if problem and got is not None:
            got, message = 0.0, problem
        scores[gid] = {"score": got, "max_score": points, "exercise": exercise_of(gid), "message": message}
    return scores


def _output(item) -> nbformat.NotebookNode | None:
    """An output of the learner's side, checked to be text (and PNG images) only."""
    if not isinstance(item, dict):
        return None
    kind = item.get("kind")
    if kind == "stream" and isinstance(item.get("text"), str) and item.get("name") in ("stdout", "stderr"):
        return nbformat.v4.new_output("stream", name=item["name"], text=item["text"])
    if kind == "display" and isinstance(item.get("data"), dict):
        data = {
            k: v for k, v in item["data"].items() if k in ("text/plain", "image/png") and isinstance(v, str)
        }
        return nbformat.v4.new_output("display_data", data=data) if data else None
    if kind == "error":
        lines = [line for line in item.get("traceback", []) if isinstance(line, str)]
        return nbformat.v4.new_output(
            "error",
            ename=str(item.get("ename", "Error")),
            evalue=str(item.get("evalue", "")),
            traceback=lines,
        )
    return None


def scored_notebook(
    template: nbformat.NotebookNode, submission: nbformat.NotebookNode, grader: Grader
) -> nbformat.NotebookNode:
    """The submission as graded: locked cells restored, test cells shown without their hidden part
    and with the trusted side's outputs, the learner's cells with their own (checked) outputs. Every
    graded cell carries the template's nbgrader metadata, whatever the submission's said."""
    tests = {grade_id(c): c for c in template.cells if utils.is_grade(c) and not utils.is_solution(c)}
    known = {grade_id(c): c.metadata.nbgrader for c in template.cells if grade_id(c)}
    locked = {grade_id(c): c for c in template.cells if utils.is_locked(c) and grade_id(c)}
    nb, _ = ClearOutput().preprocess(copy.deepcopy(submission), {})
    nb.metadata["kernelspec"] = copy.deepcopy(template.metadata.get("kernelspec", {}))
    ran = {cell.index: cell for cell in grader.cells}
    seen = set()
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        if gid not in known or gid in seen:  # a cell the template does not grade, or a copy of one
            cell.metadata.pop("nbgrader", None)
            gid = None
        if gid in locked:
            nb.cells[index] = cell = copy.deepcopy(locked[gid])
        if gid:
            seen.add(gid)
            cell.metadata["nbgrader"] = copy.deepcopy(known[gid])
        if cell.cell_type == "markdown" and gid not in locked:  # the learner's text: shown, never run as HTML
            cell.source = re.sub(r"<(?=[/!?A-Za-z])", "&lt;", "".join(cell.source))
        if gid in tests:
            cell.source = visible_source(tests[gid].source)
            result = grader.results.get(gid, {})
            cell.outputs = [o for o in map(_output, result.get("outputs", [])) if o is not None]
        elif cell.cell_type == "code" and index in ran:
            learner = ran[index]
            if learner.withheld:
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=WITHHELD)]
            else:
                cell.outputs = [o for o in map(_output, learner.outputs) if o is not None]
            if learner.problem:
                cell.outputs.append(
                    nbformat.v4.new_output(
                        "error", ename="GradingProblem", evalue=learner.problem, traceback=[learner.problem]
                    )
                )
    for gid, cell in tests.items():  # a test cell the learner deleted is still graded, and shown
        if gid not in seen:
            restored = copy.deepcopy(cell)
            restored.source = visible_source(cell.source)
            result = grader.results.get(gid, {})
            restored.outputs = [o for o in map(_output, result.get("outputs", [])) if o is not None]
            nb.cells.append(restored)
    nb, _ = LimitOutput().preprocess(nb, {})
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, os.fspath(path))


__all__ = ["make_template", "score", "scored_notebook"]
