"""Grade one submission: the per-submission step, the same locally and on a batch engine.

    python -m grading.run_one SUBMISSION.ipynb --template TEMPLATE.ipynb --out DIR [--timeout S]
                              [--result-fd FD]

writes ``DIR/<notebook>.ipynb`` (executed and scored), ``DIR/scores.json`` and
``DIR/<notebook>.html`` (feedback). It never touches the gradebook; the coordinator
(``python -m grading autograde``) writes every result into it, one at a time. Run it inside the
sandbox (``grading.sandbox``); it runs the kernel in a private temporary directory.

The learner's kernel runs as the same user as this process, so it could overwrite files this
process writes. ``--result-fd`` closes that door: the same three results go, as one JSON document,
down a pipe that the kernel does not inherit, and this process makes itself non-dumpable so that
the kernel cannot reach the pipe (or its memory) through ``/proc`` or ``ptrace`` either.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .execute import execute
from .notebook import feedback_html, graded_copy, limit_output, make_plan, score

DEFAULT_TIMEOUT = 120


def not_dumpable() -> None:
    """``prctl(PR_SET_DUMPABLE, 0)``: other processes of this user (the kernel) cannot ptrace this
    one or open its ``/proc/<pid>/fd`` and ``mem``. Linux only; elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # 4 = PR_SET_DUMPABLE


def grade(submission: Path, template: Path, out: Path, timeout: int = DEFAULT_TIMEOUT) -> dict[str, str]:
    """Execute and score ``submission`` against ``template``; write the three results into ``out``
    and return them (``{file name: text}``)."""
    start = time.perf_counter()
    learner = nbformat.read(submission, as_version=4)
    nb, missing = graded_copy(learner, nbformat.read(template, as_version=4))
    plan = make_plan(nb, nbformat.read(template, as_version=4))
    with tempfile.TemporaryDirectory(prefix="grading-") as cwd:
        execute(nb, plan, Path(cwd), timeout, dict(os.environ))
    scores = score(nb, plan, missing)
    nb = limit_output(nb)
    name = submission.stem
    result = {"notebook": name, "score": sum(s["score"] or 0 for s in scores.values()),
              "max_score": sum(s["max_score"] for s in scores.values()), "cells": scores,
              "problems": {str(i): m for i, m in sorted(plan.problems.items())},
              "seconds": round(time.perf_counter() - start, 2)}
    results = {f"{name}.ipynb": nbformat.writes(nb), f"{name}.html": feedback_html(nb, scores),
               "scores.json": json.dumps(result, indent=1)}
    out.mkdir(parents=True, exist_ok=True)
    for filename, text in results.items():
        (out / filename).write_text(text)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.run_one", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="the learner's notebook")
    parser.add_argument("--template", type=Path, required=True,
                        help="the source notebook with solutions cleared and hidden tests kept")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    parser.add_argument("--result-fd", type=int, help="also send the results down this pipe (see above)")
    args = parser.parse_args(argv)
    for path in (args.submission, args.template):
        if not path.is_file():
            parser.error(f"{path} is not a file: give the path of a notebook (.ipynb)")
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    not_dumpable()
    results = grade(args.submission, args.template, args.out, args.timeout)
    if args.result_fd is not None:
        with os.fdopen(args.result_fd, "w") as pipe:
            json.dump(results, pipe)
    result = json.loads(results["scores.json"])
    print(f"{args.submission}: {result['score']:g} / {result['max_score']:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
