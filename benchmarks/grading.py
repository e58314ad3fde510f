"""Grading throughput: 40 submissions of one assignment (01 by default) on 1 and on 2 workers, sandboxed.

Prints submissions per minute for J = 1 and J = 2 and their ratio, and the time per submission
(the trusted side and the sandbox included, from the coordinator's start to its end) against the
notebook's own run time (nbclient, same warm checkpoint cache, no sandbox). The submissions are the
solution and the realistic mistakes of
tests/mistakes/<assignment>.py (the infinite loop left out: it only measures the time limit).
The load average before and after says whether the machine was busy.

    .venv/bin/python benchmarks/grading.py [--submissions 40] [--assignment 01-l1-unstructured]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from nbgrading import (  # noqa: E402 -- the test support builds courses and submissions
    make_course,
    make_submission,
    mistake_source,
    mistakes,
    read,
    write_submission,
)


def build_course(root: Path, count: int, assignment: str) -> Path:
    """A course with ``count`` submissions: the solution and each realistic mistake, in turn."""
    course = make_course(root, [assignment])
    release = read(course / "notebooks" / assignment / f"{assignment}.ipynb")
    solution = read(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    variants = [make_submission(release, solution)] + [
        make_submission(release, solution, {m["cell"]: mistake_source(solution, m)})
        for m in mistakes(assignment) if m["name"] != "infinite-loop"]
    for i in range(count):
        write_submission(course, f"student{i:03d}", assignment, variants[i % len(variants)])
    return course


def grade(course: Path, jobs: int) -> float:
    """Seconds for `python -m grading autograde --jobs J` (checkpoint cache already warm)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grading", "autograde", "--jobs", str(jobs)], cwd=course, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def notebook_run_time(course: Path, assignment: str) -> float:
    """The solution notebook's own run time with nbclient, using the grading's warm cache."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["PRUNING_CACHE_DIR"] = str(course / ".grading" / "cache")
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(course)}})
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--assignment", default="01-l1-unstructured", help="a folder of solutions/")
    args = parser.parse_args()
    if not (ROOT / "solutions" / args.assignment).is_dir():
        known = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
        parser.error(f"--assignment must be one of solutions/: {known}, got {args.assignment!r}")
    if args.submissions < 1:
        parser.error(f"--submissions must be at least 1, got {args.submissions}")
    os.environ.setdefault("PRUNING_OFFLINE", "1")
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        course = build_course(Path(tmp) / "course", args.submissions, args.assignment)
        subprocess.run([sys.executable, "-m", "grading", "prepare"], cwd=course, check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # warms the cache
        own = notebook_run_time(course, args.assignment)
        times = {jobs: grade(course, jobs) for jobs in (1, 2)}
        results = (course / ".grading" / "jobs").rglob("scores.json")
        inside = [json.loads(p.read_text())["seconds"] for p in results]
    n = args.submissions
    print(f"{n} submissions of {args.assignment}")
    for jobs, seconds in times.items():
        print(f"J={jobs}: {n} submissions in {seconds:.0f} s = {60 * n / seconds:.1f} submissions/minute")
    print(f"speed-up J=2 / J=1: {times[1] / times[2]:.2f}x")
    per = times[1] / n
    print(f"notebook's own run time (nbclient, warm cache, no sandbox): {own:.1f} s")
    print(f"per submission at J=1, trusted side and sandbox included: {per:.1f} s = {per / own:.2f}x the "
          f"notebook's own run time (one job's own time, last run: {sum(inside) / len(inside):.1f} s "
          "on average)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
