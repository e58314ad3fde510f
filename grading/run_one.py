"""Grade one job folder: the per-submission step, the same locally and on a batch engine.

This process is the trusted side (:mod:`grading.trusted`). It starts the learner's sandbox
(:mod:`grading.learner` under bubblewrap, as ``nobody`` when the grader is root, in its own memory
cgroup where the machine allows), talks to it over one socket, and writes ``out/scores.json``,
``out/<notebook>.ipynb`` (scored; nbgrader's pipeline records it and makes the feedback from the
gradebook). Nothing the sandbox
can reach is ever read back: only the socket's messages, decoded as data.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from . import cgroup as cgroups
from .notebook import score, scored_notebook
from .remote import Sandbox
from .sandbox import HOST_ENV, PYTHON, Limits, bwrap_command, sandbox_env
from .screen import references
from .trusted import Grader

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def job_threads(settings: dict) -> int:
    """Threads for each side of one job: its share of the cores (Slurm's CPUs per task in a Slurm job)."""
    return int(os.environ.get("SLURM_CPUS_PER_TASK", settings["threads"]))


def learner_starter(job: Path, settings: dict, log, group: cgroups.Cgroup | None, limits: Limits):
    """A function that starts a fresh learner process and returns it with its socket."""
    checkpoints = sorted(Path(settings["cache"]).glob("*.pt")) if settings.get("cache") else []
    threads = job_threads(settings)

    def start() -> tuple[subprocess.Popen, socket.socket]:
        mine, theirs = socket.socketpair()
        argv = [
            str(PYTHON) if settings["sandbox"] else sys.executable,
            "-m",
            "grading.learner",
            str(theirs.fileno()),
        ]
        if settings["sandbox"]:
            command = bwrap_command(
                argv,
                Path(settings["data_dir"]),
                checkpoints,
                sandbox_env(threads),
                limits,
                cgroup=group is not None,
            )
            env, cwd = HOST_ENV, "/"
        else:
            scratch = job / "tmp"
            scratch.mkdir(exist_ok=True)
            command, cwd = argv, str(scratch)
            env = {
                **os.environ,
                **sandbox_env(threads),
                "HOME": str(scratch),
                "TMPDIR": str(scratch),
                "PRUNING_CACHE_DIR": settings.get("cache") or str(scratch),
                "PRUNING_DATA_DIR": settings["data_dir"],
                "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            }
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
            preexec_fn=group.enter if group else None,
        )
        theirs.close()
        return process, mine

    return start


def grade(job: Path) -> dict[str, str]:
    """Grade the job's submission; return the two results (``{file name: text}``)."""
    settings = json.loads((job / "job.json").read_text())
    name = settings["notebook"]
    start = time.perf_counter()
    submission = nbformat.read(job / "in" / f"{name}.ipynb", as_version=4)
    template = nbformat.read(job / "template.ipynb", as_version=4)
    limits = Limits()
    group = (
        cgroups.create(
            f"{settings['assignment']}-{settings['student']}-{name}-{os.getpid()}",
            limits.memory_bytes,
            limits.processes,
        )
        if settings["sandbox"]
        else None
    )
    with open(job / "log.txt", "a") as log:
        sandbox = Sandbox(learner_starter(job, settings, log, group, limits))
        grader = Grader(
            template,
            submission,
            sandbox,
            settings["timeout"],
            references=references(HELPERS),
            assignment=settings["assignment"],
        )
        try:
            grader.grade()
        finally:
            sandbox.stop()
            peak = group.peak() if group else None
            if group:
                group.remove()
        for line in grader.log:
            log.write(f"{line}\n")
    scores = score(template, grader)
    nb = scored_notebook(template, submission, grader)
    result = {
        "notebook": name,
        "score": sum(s["score"] or 0 for s in scores.values()),
        "max_score": sum(s["max_score"] for s in scores.values()),
        "cells": scores,
        "flags": grader.flags(),
        "problems": grader.problems,
        "seconds": round(time.perf_counter() - start, 2),
        "memory_peak_bytes": peak,
    }
    return {
        f"{name}.ipynb": nbformat.writes(nb),
        "scores.json": json.dumps(result, indent=1),
    }
