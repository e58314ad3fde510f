"""Notebooks for grading: the template made from the source, the graded copy of a submission,
its scores (immune to stderr), and its feedback page.

The *template* is the source notebook with the solutions cleared by nbgrader (stubs, as released)
and the hidden tests kept: everything a sandbox may see, and nothing of the solutions.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
from nbconvert.exporters import HTMLExporter
from nbgrader import utils
from nbgrader.preprocessors import ClearOutput, ClearSolutions, LimitOutput
from traitlets.config import Config

from .execute import Plan, code_names, course_imports

STUB = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


def exercise_of(grade_id: str) -> str:
    """``ex2-prune-layer-tests`` -> ``ex2``: the exercise a cell belongs to (the course's convention)."""
    return grade_id.split("-", 1)[0]


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def make_template(source: Path) -> nbformat.NotebookNode:
    """The source notebook with its solutions cleared (hidden tests kept), as nbgrader would."""
    nb = nbformat.read(source, as_version=4)
    nb, _ = ClearSolutions(code_stub=STUB, enforce_metadata=True).preprocess(nb, {})
    nb, _ = ClearOutput().preprocess(nb, {})
    return nb


def graded_copy(submission: nbformat.NotebookNode, template: nbformat.NotebookNode) -> tuple[
        nbformat.NotebookNode, list[str]]:
    """The submission with outputs cleared and every locked cell restored from the template.

    Returns the notebook and the grade_ids of locked cells the learner deleted (they score 0).
    """
    locked = {grade_id(c): c for c in template.cells if utils.is_locked(c) and grade_id(c)}
    nb, _ = ClearOutput().preprocess(copy.deepcopy(submission), {})
    nb.metadata["kernelspec"] = copy.deepcopy(template.metadata.get("kernelspec", {}))
    seen = set()
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        if gid in locked and gid not in seen:
            nb.cells[index] = copy.deepcopy(locked[gid])
            seen.add(gid)
        elif gid in locked:  # a duplicated locked cell: nbgrader's ids must stay unique
            cell.metadata.pop("nbgrader")
    return nb, sorted(set(locked) - seen)


def make_plan(nb: nbformat.NotebookNode, template: nbformat.NotebookNode) -> Plan:
    """Which cells are hidden tests, and which names the course's own cells import."""
    tests = {i: grade_id(c) for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and utils.is_grade(c) and not utils.is_solution(c)}
    course = [c.source for c in template.cells if c.cell_type == "code" and not grade_id(c)]
    return Plan(tests=tests, course_names=course_imports(course))


def culprit_exercise(nb: nbformat.NotebookNode, plan: Plan, index: int, message: str) -> str | None:
    """The exercise a problem in cell ``index`` costs: its own, or for tampering in a cell of no
    exercise, the next one tested after it; None when it costs nothing by itself."""
    gid = grade_id(nb.cells[index])
    if gid:
        return exercise_of(gid)
    if not message.startswith("tampering"):
        return None
    later = [plan.tests[i] for i in sorted(plan.tests) if i > index]
    return exercise_of(later[0]) if later else None


def score(nb: nbformat.NotebookNode, plan: Plan, missing: list[str]) -> dict[str, dict]:
    """``{grade_id: {score, max_score, exercise, message}}`` for every graded cell.

    nbgrader's own rule decides a cell (an error scores 0, a number is partial credit), except that
    output on stderr (warnings) is ignored; an exercise with a problem (crash, time-out, tampering)
    scores 0 with the problem as its message.
    """
    lost = {}
    for index, message in plan.problems.items():
        exercise = culprit_exercise(nb, plan, index, message)
        if exercise:
            where = grade_id(nb.cells[index]) or f"cell {index + 1}"
            lost.setdefault(exercise, f"{where}: {message}")
    scores = {}
    for cell in nb.cells:
        if not utils.is_grade(cell):
            continue
        gid = grade_id(cell)
        quiet = copy.deepcopy(cell)
        if quiet.cell_type == "code":
            quiet.outputs = [o for o in quiet.outputs
                             if not (o.output_type == "stream" and o.name == "stderr")]
        points, max_points = utils.determine_grade(quiet)
        message = lost.get(exercise_of(gid))
        if message:
            points = 0.0
        scores[gid] = {"score": points, "max_score": max_points, "exercise": exercise_of(gid),
                       "message": message}
    for gid in missing:
        scores[gid]["score"] = 0.0
        scores[gid]["message"] = "this test cell was deleted from the submission"
    return scores


def limit_output(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """nbgrader's output limit (lines per cell, traceback length), as its autograde applies it."""
    nb, _ = LimitOutput().preprocess(nb, {})
    return nb


def feedback_html(nb: nbformat.NotebookNode, scores: dict[str, dict]) -> str:
    """nbgrader's feedback page for the scored notebook (its template, our scores)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in scores:
            cell.metadata.nbgrader["score"] = scores[gid]["score"]
            cell.metadata.nbgrader["points"] = scores[gid]["max_score"]
        if gid and utils.is_solution(cell):
            cell.metadata.nbgrader["comment"] = None
    total = sum(s["score"] or 0 for s in scores.values())
    templates = Path(utils.__file__).parent / "server_extensions" / "formgrader" / "templates"
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(templates)]
    config.HTMLExporter.extra_template_paths = [str(templates.parent / "static" / "node_modules" / "bootstrap"
                                                     / "dist" / "css")]
    resources = {"nbgrader": {"score": total, "max_score": sum(s["max_score"] for s in scores.values()),
                              "late_penalty": 0, "notebook": nb.metadata.get("name", "")}}
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return html


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, os.fspath(path))


__all__ = ["code_names", "exercise_of", "feedback_html", "graded_copy", "make_plan", "make_template",
           "score"]
