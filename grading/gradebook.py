"""Record finished jobs in nbgrader's gradebook, one after another from one process, by nbgrader's
own ``autograde`` (its pipeline takes each finished job, :mod:`grading.pipeline`), then make each
learner's feedback from the gradebook with nbgrader's ``generate_feedback``; and the summary table.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ComputeChecksums, SaveCells
from traitlets.config.loader import PyFileConfigLoader

COURSE_ID = "pruning-workbook"


def db_url(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


def ensure_assignment(root: Path, assignment: str, templates: Path) -> None:
    """Record the assignment's notebooks and graded cells (what ``generate_assignment`` records)
    when the gradebook does not have them yet, e.g. after ``make clean-grading``."""
    with Gradebook(db_url(root), COURSE_ID) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            gb.update_or_create_assignment(assignment)
    for template in sorted(templates.glob("*.ipynb")):
        nb = nbformat.read(template, as_version=4)
        resources = {"nbgrader": {"db_url": db_url(root), "assignment": assignment,
                                  "notebook": template.stem}}
        nb, resources = ComputeChecksums().preprocess(nb, resources)
        SaveCells().preprocess(nb, resources)


def nbgrader_api(root: Path) -> NbGraderAPI:
    """nbgrader's own API (what formgrader calls) on the course's ``nbgrader_config.py``."""
    config = PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def record(api: NbGraderAPI, student: str, assignment: str) -> str | None:
    """nbgrader's ``autograde`` and ``generate_feedback`` for one submission; the error, if any."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Object of type .* not in session")  # nbgrader's own
        done = api.autograde(assignment, student, force=True, create=True)
    if not done["success"]:
        return f"nbgrader autograde failed: {_last_lines(done)}"
    done = api.generate_feedback(assignment, student, force=True)
    return None if done["success"] else f"nbgrader generate_feedback failed: {_last_lines(done)}"


def _last_lines(done: dict) -> str:
    return " | ".join((done.get("error") or done.get("log") or "").strip().splitlines()[-3:])


def summary(root: Path, rows: list[tuple[str, str]], failed: dict[tuple[str, str], str],
            flags: dict[tuple[str, str], list[str]]) -> str:
    """One line per submission: total after late penalty, the penalty, what waits for a grader."""
    lines = [f"{'student':<16} {'assignment':<28} {'score':>11} {'late':>6}  to grade by hand"]
    with Gradebook(db_url(root), COURSE_ID) as gb:
        for student, assignment in rows:
            if (student, assignment) in failed:
                lines.append(f"{student:<16} {assignment:<28} NOT GRADED: {failed[student, assignment]}")
                continue
            sub = gb.find_submission(assignment, student)
            manual = [g.name for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]
            penalty = sub.late_submission_penalty or 0
            late = f"-{penalty:g}" if penalty else ""
            todo = ", ".join(manual) or "-"
            screened = flags.get((student, assignment))
            if screened:
                todo += f" (screening flagged {', '.join(screened)})"
            total = f"{max(0.0, sub.score - penalty):>5g} / {sub.max_score:<3g}"
            lines.append(f"{student:<16} {assignment:<28} {total} {late:>6}  {todo}")
    return "\n".join(lines)
