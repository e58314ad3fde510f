"""nbgrader settings for the course: `solutions/` is the source, `notebooks/` the release.

Run nbgrader from this folder (the Makefile does) with the venv's bin/ on PATH.
"""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "pruning-workbook"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# Per-cell time limit when grading. The slowest legitimate cell (training a model the first
# time on 2 CPU cores, before the checkpoint cache has it) takes well under a minute; a
# learner's infinite loop is interrupted after this, fails its own exercise, and the rest of
# the notebook and of the batch is still graded.
c.Execute.timeout = 120
c.Execute.startup_timeout = 120

# One grader behind every way of autograding (`make autograde`, `nbgrader autograde`, formgrader's
# Autograde button): nbgrader's own pipeline, with the course's sandboxed grader (grading/pipeline.py)
# where nbgrader would execute the submission in a kernel. nbgrader still reads timestamp.txt,
# applies the late penalty below, keeps manual grades across regrades and writes the gradebook.
c.Autograde.sanitize_preprocessors = []  # the grader reads the submitted file itself, as data
c.Autograde.autograde_preprocessors = [
    "grading.pipeline.SandboxedGrading",
    "nbgrader.preprocessors.LimitOutput",
    "grading.pipeline.SaveTrustedGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Late work: submitted/<student>/<assignment>/timestamp.txt (written by `nbgrader submit`, kept by
# `nbgrader collect`) against the assignment's due date (`nbgrader db assignment add NAME
# --duedate=...`). "none": no penalty; "zero": a late notebook scores 0. For a penalty that grows
# with lateness use grading.late.PerDay (see README, "Late work").
c.LateSubmissionPlugin.penalty_method = "none"

# Feedback pages: nothing a learner wrote runs as HTML or script in them.
c.HTMLExporter.sanitize_html = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Submissions from an LMS (`nbgrader zip_collect ASSIGNMENT`): the class download goes in
# downloaded/<assignment>/archive/ (zip files or notebooks), named as Canvas names them:
# <name>_<user id>_<submission id>_<notebook>.ipynb, with LATE_ after the name for late work.
# <name> becomes the student id. Other LMSs: change the pattern (it is matched against the path).
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[^/_]+)_(?:LATE_)?\d+_\d+_(?P<file_id>[^/]+\.ipynb)$"
)
