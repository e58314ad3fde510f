"""Instructor-side grading for the course: sandboxed, tamper-checked, crash-tolerant, parallel.

- ``python -m grading autograde``: grade every submission under ``submitted/`` (``make autograde``).
- ``python -m grading.run_one SUBMISSION --template T --out DIR``: grade one submission (the step a
  batch engine runs); it never touches the gradebook.

The package is for instructors and never ships inside the learners' ``helpers``.
"""
