"""The coordinator: prepare one job per submitted notebook, run the jobs on J workers (or a batch
engine), then write every result into the one gradebook, one at a time.

Layout under the course root (git-ignored, invisible inside the sandbox):

    .grading/templates/<assignment>/<notebook>.ipynb   solutions cleared, hidden tests kept
    .grading/cache/                                     checkpoints, warmed by the source notebook
    .grading/jobs.txt                                   one job folder per line (a batch array's index)
    .grading/jobs/<assignment>/<student>/<notebook>/    job.json, in/, template.ipynb, out/, log.txt

The sandbox sees none of this: the trusted side (``run-job``) reads the submission and template
and sends the learner's cells over a socket; the warm checkpoints are mounted into the sandbox
read-only, one file each.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .notebook import make_template, write_notebook
from .sandbox import SandboxUnavailable, check_available, opted_out

WORK = ".grading"


@dataclass
class Course:
    """An nbgrader course folder: ``solutions/`` (source), ``submitted/``, ``autograded/``, ..."""

    root: Path
    sandbox: bool = field(default_factory=lambda: not opted_out())
    timeout: int = 120  # seconds per cell
    job_timeout: int = 1800  # seconds per submitted notebook, everything included
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def work(self) -> Path:
        return self.root / WORK

    @property
    def data_dir(self) -> Path:
        env = os.environ.get("PRUNING_DATA_DIR")
        return Path(env) if env else Path.home() / ".cache" / "pruning-workbook" / "data"

    @property
    def user_cache(self) -> Path:
        env = os.environ.get("PRUNING_CACHE_DIR")
        return Path(env) if env else Path.home() / ".cache" / "pruning-workbook" / "checkpoints"

    def assignments(self) -> list[str]:
        folders = (self.root / "solutions").iterdir()
        return sorted(p.name for p in folders if p.is_dir() and p.name[0].isdigit())


def submissions(course: Course, assignments: list[str]) -> list[tuple[str, str, Path]]:
    """``(student, assignment, notebook)`` for each submitted notebook the source also has."""
    found = []
    for assignment in assignments:
        names = {p.stem for p in (course.root / "solutions" / assignment).glob("*.ipynb")}
        for folder in sorted((course.root / "submitted").glob(f"*/{assignment}")):
            found += [(folder.parent.name, assignment, nb) for nb in sorted(folder.glob("*.ipynb"))
                      if nb.stem in names]
    return found


def warm_cache(course: Course, assignment: str, log=print) -> None:
    """Run the source notebook once (trusted instructor code), so sandboxes load, not train.

    Checkpoints already in the instructor's own cache (``$PRUNING_CACHE_DIR``) are copied in
    first, and new ones copied back: their names are keyed by model, hyperparameters, data and
    settings, so sharing them is safe.
    """
    cache = course.work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    _copy_new(course.user_cache, cache)
    for source in sorted((course.root / "solutions" / assignment).glob("*.ipynb")):
        marker = cache / f".warm-{source.stem}-{hashlib.sha256(source.read_bytes()).hexdigest()[:16]}"
        if not marker.exists():
            _run_source(course, source, cache, log)
            marker.touch()
    _copy_new(cache, course.user_cache)


def _copy_new(src: Path, dst: Path) -> None:
    """Copy the checkpoints of ``src`` that ``dst`` lacks."""
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        for checkpoint in src.glob("*.pt"):
            if not (dst / checkpoint.name).exists():
                shutil.copy(checkpoint, dst / checkpoint.name)


def _run_source(course: Course, source: Path, cache: Path, log=print) -> None:
    """Execute a source notebook top to bottom (it must pass), checkpoints going to ``cache``,
    saying which cell it is at every ~15 s."""
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    env = {**os.environ, "PRUNING_CACHE_DIR": str(cache), "PRUNING_DATA_DIR": str(course.data_dir),
           "PRUNING_OFFLINE": "1"}
    scratch = course.work / "warm" / source.stem
    scratch.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(scratch)}})
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    start = last = time.monotonic()
    log(f"warming the checkpoint cache: running {source.relative_to(course.root)} ({len(code)} code cells)")
    with client.setup_kernel(env=env):
        for done, index in enumerate(code, 1):
            client.execute_cell(nb.cells[index], index)
            if time.monotonic() - last > 15:
                last = time.monotonic()
                log(f"  ... cell {done}/{len(code)}, {last - start:.0f} s")
    log(f"  warmed in {time.monotonic() - start:.0f} s")


def prepare(course: Course, assignments: list[str] | None = None, students: list[str] | None = None,
            log=print) -> list[Path]:
    """Templates, a warm cache and one job folder per submitted notebook (of ``students`` only, when
    given); returns the job folders."""
    assignments = assignments or course.assignments()
    unknown = sorted(set(assignments) - set(course.assignments()))
    if unknown:
        raise ValueError(f"unknown assignment(s) {unknown}: the course has {course.assignments()}")
    course.data_dir.mkdir(parents=True, exist_ok=True)
    found = [item for item in submissions(course, assignments) if not students or item[0] in students]
    for assignment in sorted({a for _, a, _ in found}):
        write_templates(course, assignment)
        warm_cache(course, assignment, log)
    jobs = [make_job(course, *item) for item in found]
    course.work.mkdir(exist_ok=True)
    (course.work / "jobs.txt").write_text("".join(f"{job}\n" for job in jobs))
    return jobs


def write_templates(course: Course, assignment: str) -> None:
    for source in (course.root / "solutions" / assignment).glob("*.ipynb"):
        write_notebook(make_template(source), course.work / "templates" / assignment / source.name)


def job_folder(course: Course, student: str, assignment: str, notebook: str) -> Path:
    return (course.work / "jobs" / assignment / student / notebook).resolve()


def make_job(course: Course, student: str, assignment: str, notebook: Path) -> Path:
    """A self-contained job folder: the submission, its template, a private cache copy, settings."""
    job = job_folder(course, student, assignment, notebook.stem)
    shutil.rmtree(job, ignore_errors=True)
    (job / "in").mkdir(parents=True)
    (job / "out").mkdir()
    shutil.copy(notebook, job / "in" / notebook.name)
    shutil.copy(course.work / "templates" / assignment / notebook.name, job / "template.ipynb")
    settings = {"student": student, "assignment": assignment, "notebook": notebook.stem,
                "course_root": str(course.root.resolve()), "data_dir": str(course.data_dir),
                "cache": str((course.work / "cache").resolve()),
                "sandbox": course.sandbox, "timeout": course.timeout, "job_timeout": course.job_timeout,
                "threads": max(1, (os.cpu_count() or 1) // max(1, course.jobs))}
    (job / "job.json").write_text(json.dumps(settings, indent=1))
    return job


class NotGraded(Exception):
    """A submission the grader could not grade (its log says why)."""


def finished(job: Path, submitted: Path, template: Path) -> bool:
    """Whether ``job`` holds a result for exactly this submitted file and this template."""
    name = submitted.name
    return ((job / "out" / "scores.json").exists() and (job / "in" / name).exists()
            and (job / "in" / name).read_bytes() == submitted.read_bytes()
            and (job / "template.ipynb").read_bytes() == template.read_bytes())


def read_result(job: Path) -> tuple[dict, nbformat.NotebookNode]:
    """A finished job's scores and scored notebook."""
    result = json.loads((job / "out" / "scores.json").read_text())
    return result, nbformat.read(job / "out" / f"{result['notebook']}.ipynb", as_version=4)


def grade_now(course: Course, student: str, assignment: str, notebook: str,
              log=print) -> tuple[dict, nbformat.NotebookNode]:
    """The result for one submitted notebook: its finished job when it has one for this very file
    and template (``make autograde`` graded it on a worker), else graded here and now."""
    submitted = course.root / "submitted" / student / assignment / f"{notebook}.ipynb"
    write_templates(course, assignment)
    job = job_folder(course, student, assignment, notebook)
    if not finished(job, submitted, course.work / "templates" / assignment / submitted.name):
        if course.sandbox:
            try:
                check_available(course.data_dir)
            except SandboxUnavailable as err:
                raise NotGraded(f"refusing to grade: {err}") from err
        warm_cache(course, assignment, log)
        make_job(course, student, assignment, submitted)
        log(f"grading {student}/{assignment}/{notebook} (sandboxed: {course.sandbox})")
        subprocess.run(job_command(job), cwd=course.root, stdin=subprocess.DEVNULL)
    if not (job / "out" / "scores.json").exists():
        raise NotGraded(f"{student}/{assignment}/{notebook}: not graded, see {job / 'log.txt'}")
    return read_result(job)


def job_command(job: Path) -> list[str]:
    """The one command that grades one job folder: what every worker and every batch task runs."""
    return [sys.executable, "-m", "grading", "run-job", str(job)]


def run_job(job: Path) -> int:
    """Grade one job folder (the body of ``python -m grading run-job``): results in ``out/``, the
    sandbox's log in ``log.txt``. This process is the trusted side; the exit status is 0 when the
    job was graded, 124 when it ran past its overall time limit, 1 when grading itself failed."""
    import torch

    from .run_one import grade, job_threads

    settings = json.loads((job / "job.json").read_text())
    # This process trains too (course cells, test cells): it gets the sandbox's share of the cores, so
    # that parallel jobs do not oversubscribe them (torch's default is every core, in every job).
    torch.set_num_threads(job_threads(settings))
    shutil.rmtree(job / "out", ignore_errors=True)  # a result counts only if this run writes it
    (job / "out").mkdir()
    (job / "log.txt").write_text("")
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(int(settings["job_timeout"]))
    try:
        results = grade(job)
    except JobTimeout:
        with open(job / "log.txt", "a") as log:
            log.write(f"\ngrading stopped: the submission took longer than {settings['job_timeout']} s\n")
        return 124
    finally:
        signal.alarm(0)
    save_results(job, settings["notebook"], results)
    return 0


class JobTimeout(Exception):
    """The whole submission ran past ``job_timeout``."""


def _out_of_time(signum, frame):
    raise JobTimeout()


def save_results(job: Path, notebook: str, results: dict[str, str]) -> None:
    """Write the two results into ``job/out`` (only those two names)."""
    for name in ("scores.json", f"{notebook}.ipynb"):
        (job / "out" / name).write_text(results[name])


def run_local(course: Course, jobs: list[Path], log=print) -> dict[Path, int]:
    """Run every job on ``course.jobs`` warm workers (``grading.worker``: one forked child per job,
    each a fresh trusted side): exit code per job. A worker that fails falls back to ``run-job``.
    Each finished job is reported with the count done and an estimate of the time left."""
    todo: queue.Queue[Path] = queue.Queue()
    for job in jobs:
        todo.put(job)
    codes: dict[Path, int] = {}
    lock, start = threading.Lock(), time.monotonic()

    def finished_one(job: Path, code: int) -> None:
        with lock:
            codes[job] = code
            done, elapsed = len(codes), time.monotonic() - start
            left = elapsed / done * (len(jobs) - done)
            log(f"[{done}/{len(jobs)}] {progress_line(course, job, code)}; {elapsed:.0f} s so far, "
                f"about {left:.0f} s left")

    def worker() -> None:
        process = subprocess.Popen([sys.executable, "-m", "grading.worker"], cwd=course.root, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                answer = ""
                if process.poll() is None:
                    process.stdin.write(f"{job}\n")
                    process.stdin.flush()
                    answer = process.stdout.readline().strip()
                finished_one(job, int(answer) if answer.lstrip("-").isdigit() else
                             subprocess.run(job_command(job), cwd=course.root).returncode)
        finally:
            process.stdin.close()
            process.wait()

    with ThreadPoolExecutor(max_workers=course.jobs) as pool:
        for future in [pool.submit(worker) for _ in range(min(course.jobs, len(jobs)))]:
            future.result()
    return {job: codes[job] for job in jobs}


def progress_line(course: Course, job: Path, code: int) -> str:
    """``student/assignment/notebook: 6 / 8 in 5.2 s``, or why there is no result."""
    name = str(job.relative_to(course.work.resolve() / "jobs"))
    path = job / "out" / "scores.json"
    if not path.exists():
        why = "ran out of time" if code == 124 else "failed"
        return f"{name}: NOT GRADED ({why}), see {job / 'log.txt'}"
    result = json.loads(path.read_text())
    return f"{name}: {result['score']:g} / {result['max_score']:g} in {result['seconds']:.1f} s"
