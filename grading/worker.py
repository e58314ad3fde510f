"""A warm grading worker: imports the trusted side's libraries once, then grades one job per forked
child, so that each submission still starts from a fresh trusted namespace without paying for
``import torch`` again.

    python -m grading.worker      # reads job folders, one per line, on stdin; writes exit codes

``python -m grading autograde`` starts one per worker; a batch engine runs ``run-job`` instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path


def warm() -> None:
    """Import what every job needs (no threads start here, so forking afterwards is safe)."""
    import lightning  # noqa: F401
    import nbconvert.exporters  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401
    import torch  # noqa: F401
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401

    import helpers.data  # noqa: F401
    import helpers.models  # noqa: F401
    import helpers.pruning  # noqa: F401

    from . import notebook, run_one, trusted  # noqa: F401


def grade_in_child(job: Path) -> int:
    """Fork, grade ``job`` in the child, return its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: a fresh copy of the warm process, used once
        code = 1
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)  # stdout carries this worker's answers, not a job's prints
            from .coordinator import run_job

            code = run_job(job)
        except BaseException:  # noqa: BLE001 -- any failure is this job's, reported in its log
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> int:
    warm()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        if line.strip():
            answers.write(f"{grade_in_child(Path(line.strip()))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
