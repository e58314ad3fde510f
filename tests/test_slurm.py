"""Grading on a real single-node Slurm cluster (Debian's slurmctld, slurmd, slurm-client, munge, started
on 127.0.0.1 for the test): ``deploy/slurm/grade.sh`` prepares on a compute node, grades a job array,
waits for ``collect`` and prints its report; the gradebook equals the local grader's."""

import os
import shutil
import subprocess
import sys

import pytest
import slurmcluster
from nbgrading import BIN, ROOT, grades, make_course, mistakes, submit_as

pytestmark = pytest.mark.slow
A = "01-l1-unstructured"
STUDENTS = ("right", "wrong", "blank")


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    why = slurmcluster.missing()
    if why:
        pytest.skip(why)
    top = tmp_path_factory.mktemp("slurm")
    course = make_course(top / "course", [A])
    for student, answer in zip(STUDENTS, ("solution", mistakes(A)[0]["name"], "blank"), strict=True):
        submit_as(course, A, student, answer)
    shutil.copytree(ROOT / "deploy", course / "deploy")
    (course / ".venv").symlink_to(ROOT / ".venv")  # the course root's venv, as `make venv` makes it
    local = top / "local"
    shutil.copytree(course, local, symlinks=True)
    return top, course, local


def test_a_job_array_grades_like_the_local_grader(courses):
    top, course, local = courses
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "grading", "autograde"], cwd=local, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]

    plain = {k: v for k, v in os.environ.items() if k != "PATH"}  # the script finds the venv itself
    with slurmcluster.cluster(top / "cluster") as cluster_env:
        done = subprocess.run(["deploy/slurm/grade.sh", "--prepare-on-node"], cwd=course,
                              env={**cluster_env, **plain, "SLURM_CONF": cluster_env["SLURM_CONF"],
                                   "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                              capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "collect's report: .grading/slurm/collect-" in out and "to grade by hand" in out, out[-3000:]
    assert "right" in out and "8 / 10" in out, out[-3000:]
    assert not list(course.glob("slurm-*.out")), "Slurm's logs go under .grading/slurm/"
    assert list((course / ".grading" / "slurm").glob("prepare-*.log")), "prepare ran as a Slurm job"
    for student in STUDENTS:
        assert grades(course, A, student) == grades(local, A, student), student
    assert (course / "feedback" / "right" / A / f"{A}.html").exists()
