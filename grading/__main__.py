"""``python -m grading``: grade a course's submissions, here or on a batch engine.

    python -m grading autograde [ASSIGNMENT ...] [--student S ...] [--jobs J] [--timeout S] [--no-sandbox]
    python -m grading prepare   [ASSIGNMENT ...] [--student S ...]  # job folders + .grading/jobs.txt
    python -m grading run-job   JOB_FOLDER         # grade one job (a batch task runs exactly this)
    python -m grading collect                      # record finished jobs, make feedback, summary

``autograde`` is ``prepare``, then ``run-job`` for every job on J workers, then ``collect``, which
records each result through nbgrader's own ``autograde`` (late penalties, manual grades kept) and
makes the feedback from the gradebook with nbgrader's ``generate_feedback``.
Run from the course root (the folder with ``solutions/`` and ``nbgrader_config.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from .coordinator import WORK, Course, prepare, run_job, run_local
from .gradebook import ensure_assignment, nbgrader_api, record, summary
from .sandbox import OPT_OUT_ENV, SandboxUnavailable, check_available


def collect(course: Course, jobs: list[Path]) -> list[str]:
    """Record every finished job through nbgrader's own autograde (one writer, one at a time), make
    its feedback from the gradebook, print the summary table; return the submissions not graded."""
    results: dict[tuple[str, str], list[tuple[Path, dict | None]]] = {}
    for job in jobs:
        settings = json.loads((job / "job.json").read_text())
        path = job / "out" / "scores.json"
        result = json.loads(path.read_text()) if path.exists() else None
        results.setdefault((settings["student"], settings["assignment"]), []).append((job, result))
    failed: dict[tuple[str, str], str] = {}
    flags: dict[tuple[str, str], list[str]] = {}
    api = nbgrader_api(course.root)
    complete = {key for key, items in results.items() if all(result is not None for _, result in items)}
    for assignment in sorted({a for _, a in complete}):
        ensure_assignment(course.root, assignment, course.work / "templates" / assignment)
    for done, ((student, assignment), items) in enumerate(sorted(results.items()), 1):
        if (student, assignment) not in complete:
            missing = next(job for job, result in items if result is None)
            failed[student, assignment] = f"no result, see {missing / 'log.txt'}"
            continue
        error = record(api, student, assignment)
        if error:
            failed[student, assignment] = error
        flags[student, assignment] = sorted({e for _, result in items for e in result["flags"]})
        print(f"recorded {done}/{len(results)}: {student}/{assignment}", flush=True)
    print(summary(course.root, sorted(results), failed, flags))
    return [f"{student}/{assignment}: {why}" for (student, assignment), why in sorted(failed.items())]


def cell_timeout(root: Path) -> int:
    """nbgrader's per-cell limit (``Execute.timeout``) from the course's nbgrader_config.py, else 120."""
    path = root / "nbgrader_config.py"
    if path.exists():
        value = PyFileConfigLoader(path.name, str(root)).load_config().get("Execute", {}).get("timeout")
        if isinstance(value, int):
            return value
    return 120


def listed_jobs(course: Course) -> list[Path]:
    path = course.work / "jobs.txt"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run `python -m grading prepare` first")
    return [Path(line) for line in path.read_text().splitlines() if line]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("autograde", "prepare"):
        one = sub.add_parser(name)
        one.add_argument("assignments", nargs="*", help="default: every assignment in solutions/")
        one.add_argument("--student", "-s", action="append", default=[],
                         help="only this student's submissions (repeat for more); default: everyone's")
        one.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel workers")
        one.add_argument("--timeout", type=int, default=None,
                         help="seconds per cell (default: Execute.timeout in nbgrader_config.py, else 120)")
        one.add_argument("--no-sandbox", action="store_true",
                         help=f"run learner code without the sandbox, with your rights (or {OPT_OUT_ENV}=1)")
    sub.add_parser("run-job").add_argument("job", type=Path)
    sub.add_parser("collect")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "run-job":
        return run_job(args.job.resolve())
    course = Course(Path.cwd())
    if not (course.root / "solutions").is_dir():
        raise SystemExit(f"{course.root} has no solutions/: run this from the course root")
    if args.command == "collect":
        failed = collect(course, listed_jobs(course))
    else:
        timeout = args.timeout if args.timeout is not None else cell_timeout(course.root)
        if args.jobs < 1 or timeout < 1:
            raise SystemExit(f"--jobs and --timeout must be at least 1, got {args.jobs} and {timeout}")
        course.jobs, course.timeout = args.jobs, timeout
        course.sandbox = course.sandbox and not args.no_sandbox  # Course reads GRADING_NO_SANDBOX
        if not course.sandbox:
            print("WARNING: grading without the sandbox: learner code runs with your rights.",
                  file=sys.stderr)
        if course.sandbox:
            try:
                check_available(course.data_dir)
            except SandboxUnavailable as err:
                raise SystemExit(f"refusing to grade: {err}") from err
        jobs = prepare(course, args.assignments, args.student)
        if not jobs:
            who = f" of {', '.join(args.student)}" if args.student else ""
            raise SystemExit(f"nothing to grade{who}: put submissions in "
                             "submitted/<student>/<assignment>/<assignment>.ipynb (nbgrader collect does)")
        print(f"{len(jobs)} submitted notebook(s); job list in {course.root / WORK / 'jobs.txt'}")
        if args.command == "prepare":
            return 0
        run_local(course, jobs)
        failed = collect(course, jobs)
    for line in failed:
        print(f"NOT GRADED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
