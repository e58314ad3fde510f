"""Instructor-side grading for the course: the verdict outside the learner's process, sandboxed,
crash-tolerant, parallel.

- ``python -m grading autograde``: grade every submission under ``submitted/`` (``make autograde``).
- ``python -m grading run-job JOB``: grade one prepared job folder (the step a batch engine runs);
  it is the trusted side (:mod:`grading.trusted`), starts the learner's sandbox
  (:mod:`grading.learner`) and never touches the gradebook.

The package is for instructors and never ships inside the learners' ``helpers``.
"""
