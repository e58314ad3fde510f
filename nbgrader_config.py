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

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
