"""Write finished jobs into nbgrader's gradebook: one process, one writer, through nbgrader's API.

Each result also lands where nbgrader puts its own: the scored notebook in
``autograded/<student>/<assignment>/`` and the feedback page in ``feedback/<student>/<assignment>/``,
so ``make feedback`` and nbgrader's formgrader keep working.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ComputeChecksums, SaveCells
from nbgrader.utils import parse_utc

from .cells import exercise_of

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


def record(root: Path, student: str, assignment: str, results: dict[str, dict]) -> None:
    """Save the auto-scores of one student's assignment (``{notebook: scores.json}``).

    A manual score a grader already gave is kept and flagged for review, as nbgrader does. An
    exercise that screening flagged (``flags``) needs manual grading, and its answer cell carries
    the reasons as the automatic comment, which formgrader shows next to it.
    """
    timestamp_file = root / "submitted" / student / assignment / "timestamp.txt"
    timestamp = parse_utc(timestamp_file.read_text().strip()) if timestamp_file.exists() else None
    with Gradebook(db_url(root), COURSE_ID) as gb, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Object of type .* not in session")  # nbgrader's own
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        for notebook in submission.notebooks:
            cells = results.get(notebook.name, {}).get("cells", {})
            flags = results.get(notebook.name, {}).get("flags", {})
            for grade in notebook.grades:
                cell = cells.get(grade.name, {"score": 0.0})  # a notebook not submitted scores 0
                grade.auto_score = cell["score"]
                grade.needs_manual_grade = (grade.manual_score is not None or cell["score"] is None
                                            or exercise_of(grade.name) in flags)
            for comment in notebook.comments:
                reasons = flags.get(exercise_of(comment.name))
                comment.auto_comment = ("Screening flagged this answer for a human look (the score is "
                                        "the tests' own): " + "; ".join(reasons)) if reasons else None
        gb.db.commit()


def publish(root: Path, job: Path) -> dict:
    """Copy a finished job's scored notebook and feedback next to nbgrader's; return its scores."""
    settings = json.loads((job / "job.json").read_text())
    result = json.loads((job / "out" / "scores.json").read_text())
    name, student, assignment = settings["notebook"], settings["student"], settings["assignment"]
    for folder, suffix in (("autograded", ".ipynb"), ("feedback", ".html")):
        target = root / folder / student / assignment / f"{name}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(job / "out" / f"{name}{suffix}", target)
    return result
