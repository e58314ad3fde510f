"""Grade one submission: the per-submission step, the same locally and on a batch engine.

    python -m grading.run_one SUBMISSION.ipynb --template TEMPLATE.ipynb --out DIR [--timeout S]

writes ``DIR/<notebook>.ipynb`` (executed and scored), ``DIR/scores.json`` and
``DIR/<notebook>.html`` (feedback). It never touches the gradebook; the coordinator
(``python -m grading autograde``) writes every result into it, one at a time. Run it inside the
sandbox (``grading.sandbox``); it runs the kernel in a private temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .execute import execute
from .notebook import feedback_html, graded_copy, limit_output, make_plan, score, write_notebook

DEFAULT_TIMEOUT = 120


def grade(submission: Path, template: Path, out: Path, timeout: int = DEFAULT_TIMEOUT) -> dict:
    """Execute and score ``submission`` against ``template``; write the three results into ``out``."""
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
    out.mkdir(parents=True, exist_ok=True)
    write_notebook(nb, out / f"{name}.ipynb")
    (out / f"{name}.html").write_text(feedback_html(nb, scores))
    (out / "scores.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.run_one", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="the learner's notebook")
    parser.add_argument("--template", type=Path, required=True,
                        help="the source notebook with solutions cleared and hidden tests kept")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in (args.submission, args.template):
        if not path.is_file():
            parser.error(f"{path} is not a file: give the path of a notebook (.ipynb)")
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    result = grade(args.submission, args.template, args.out, args.timeout)
    print(f"{args.submission}: {result['score']:g} / {result['max_score']:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
