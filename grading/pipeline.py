"""nbgrader's own ``autograde``, with this course's grader where nbgrader would run a kernel.

``nbgrader_config.py`` puts these preprocessors into nbgrader's ``Autograde`` converter, so every
way of autograding reaches the same verdict by the same code: ``make autograde`` (which grades the
jobs on parallel workers first, then runs this pipeline once per submission to record them),
``nbgrader autograde`` and formgrader's *Autograde* button (which grade here and now, one job at a
time). Everything else is nbgrader's: the submission and its ``timestamp.txt``, late penalties
(``LateSubmissionPlugin``), manual grades kept across regrades, "needs manual grading", and the
gradebook writes.

- :class:`SandboxedGrading` replaces nbgrader's ``Execute``: it grades the submitted file as
  submitted (``python -m grading run-job`` in a subprocess: the trusted side, with the learner's
  code in the sandbox), or takes the finished job of the same submission and template, and hands
  on the scored notebook (test cells without their hidden part).
- :class:`SaveTrustedGrades` is nbgrader's ``SaveAutoGrades`` with the scores read from that
  result instead of from the notebook's outputs, and the screening flags added.
"""

from __future__ import annotations

from pathlib import Path

from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades

from .cells import exercise_of
from .coordinator import Course, NotGraded, grade_now

FLAGGED = "Screening flagged this answer for a human look (the score is the tests' own): "


def course_from_config(config) -> Course:
    """The course that nbgrader's configuration describes (root, per-cell time limit, sandbox)."""
    root = config.CourseDirectory.get("root") or "."
    timeout = config.Execute.get("timeout")
    course = Course(Path(root).resolve(), timeout=timeout if isinstance(timeout, int) else 120)
    course.jobs = 1  # one submission at a time here: it may use every core
    return course


class SandboxedGrading(NbGraderPreprocessor):
    """Grade the submitted notebook with the course's grader; the scored notebook goes on."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        course = course_from_config(self.config)
        try:
            result, scored = grade_now(course, info["student"], info["assignment"], info["notebook"],
                                       log=self.log.info)
        except NotGraded as err:
            self.log.error("%s", err)
            raise
        resources["grading"] = result
        return scored, resources


class SaveTrustedGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, with the trusted side's scores and the screening flags."""

    def preprocess(self, nb, resources):
        if "grading" not in resources:
            raise RuntimeError("SaveTrustedGrades needs SandboxedGrading earlier in the pipeline")
        self.result = resources["grading"]
        self.seen: set[str] = set()
        nb, resources = super().preprocess(nb, resources)
        self._unseen_grades()
        return nb, resources

    def _score(self, grade_id: str, cell=None) -> float | None:
        if cell is not None and utils.is_solution(cell):  # a written answer: nbgrader's rule
            return utils.determine_grade(cell, self.log)[0]
        found = self.result["cells"].get(grade_id)
        return found["score"] if found else 0.0

    def _save(self, grade, auto_score: float | None) -> None:
        flagged = exercise_of(grade.name) in self.result["flags"]
        grade.auto_score = auto_score
        grade.needs_manual_grade = grade.manual_score is not None or auto_score is None or flagged
        self.gradebook.db.commit()

    def _add_score(self, cell, resources) -> None:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        self.seen.add(grade_id)
        grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id, self.student_id)
        self._save(grade, self._score(grade_id, cell))

    def _add_comment(self, cell, resources) -> None:
        super()._add_comment(cell, resources)
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        reasons = self.result["flags"].get(exercise_of(grade_id))
        if reasons:
            comment = self.gradebook.find_comment(grade_id, self.notebook_id, self.assignment_id,
                                                  self.student_id)
            comment.auto_comment = FLAGGED + "; ".join(reasons)
            self.gradebook.db.commit()

    def _unseen_grades(self) -> None:
        """A graded cell missing from the scored notebook (a written answer the learner deleted)."""
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            try:
                notebook = self.gradebook.find_submission_notebook(self.notebook_id, self.assignment_id,
                                                                   self.student_id)
            except MissingEntry:
                return
            for grade in notebook.grades:
                if grade.name not in self.seen:
                    self._save(grade, 0.0 if grade.cell_type == "markdown" else self._score(grade.name))

