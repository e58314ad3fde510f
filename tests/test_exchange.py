"""Submissions in and feedback out, the nbgrader way, on one machine with two learner accounts:
``release_assignment`` -> each learner ``fetch_assignment`` / ``submit`` -> ``collect`` ->
``python -m grading autograde`` -> ``release_feedback`` -> each learner ``fetch_feedback``.

The exchange is a temporary folder; the learners are real Unix accounts made for the test (it needs
root, as ``make test`` has for bubblewrap), so nbgrader's own permission rules on the exchange apply.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from nbgrading import BIN, ROOT, make_course, make_submission, read, run_nbgrader

pytestmark = pytest.mark.slow
A = "01-l1-unstructured"
LEARNERS = ("pw-learner1", "pw-learner2")
COURSE = "pruning-workbook"


def as_learner(user: str, home: Path, *args: str) -> str:
    """Run ``nbgrader ARGS`` as ``user`` in ``home``. Where the interpreter lives under a folder only
    root may enter (e.g. pyenv under /root), bubblewrap shows it, read-only, to the learner."""
    entry = pwd.getpwnam(user)
    base = Path(sys.base_prefix).resolve()
    view = ["bwrap", "--bind", "/", "/"]
    if base.is_relative_to("/root"):
        view += ["--tmpfs", "/root"]
        for folder in reversed(base.parents[:-2]):  # /root/.pyenv, ...: enterable by anyone
            view += ["--perms", "0755", "--dir", str(folder)]
        view += ["--ro-bind", str(base), str(base)]
    command = [*view, "--chdir", str(home), "--", "setpriv", f"--reuid={entry.pw_uid}",
               f"--regid={entry.pw_gid}", "--clear-groups", "env", "-i", f"HOME={home}", f"USER={user}",
               f"LOGNAME={user}", f"PATH={BIN}:/usr/bin:/bin", str(BIN / "nbgrader"), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"{user}: nbgrader {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def learners():
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("bwrap"):
        pytest.skip("making learner accounts needs root, useradd and bwrap (make test runs as root)")
    top = Path(tempfile.mkdtemp(prefix="exchange-test-"))
    top.chmod(0o755)
    homes = {}
    for user in LEARNERS:
        home = top / user
        home.mkdir()
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), user], check=True)
        shutil.chown(home, user, user)
        homes[user] = home
    yield top, homes
    for user in LEARNERS:
        subprocess.run(["userdel", user], capture_output=True)
    shutil.rmtree(top, ignore_errors=True)


def test_release_fetch_submit_collect_grade_and_feedback(learners):
    top, homes = learners
    exchange = top / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    course = make_course(top / "instructor", [A])
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    flags = [f"--course={COURSE}", f"--Exchange.root={exchange}"]
    run_nbgrader(["release_assignment", A, "--force"], course)

    solution = read(ROOT / "solutions" / A / f"{A}.ipynb")
    for number, (user, home) in enumerate(homes.items()):
        assert A in as_learner(user, home, "list", *flags)
        as_learner(user, home, "fetch_assignment", A, *flags)
        path = home / A / f"{A}.ipynb"
        fetched = read(path)
        answer = make_submission(fetched, solution) if number == 0 else fetched  # the second hands in blank
        path.write_text(json.dumps(answer, indent=1))
        shutil.chown(path, user, user)
        as_learner(user, home, "submit", A, *flags)

    run_nbgrader(["collect", A], course)
    for user in LEARNERS:
        folder = course / "submitted" / user / A
        assert (folder / f"{A}.ipynb").exists() and (folder / "timestamp.txt").exists(), user
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "grading", "autograde"], cwd=course, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if A in line.split()[1:2]}
    assert "8 / 10" in rows[LEARNERS[0]] and "0 / 10" in rows[LEARNERS[1]], rows

    run_nbgrader(["release_feedback", A], course)
    for user, home in homes.items():
        as_learner(user, home, "fetch_feedback", A, *flags)
        pages = list((home / A / "feedback").rglob(f"{A}.html"))
        assert len(pages) == 1, f"{user} got {pages}"
        text = pages[0].read_text()
        expected = "8.0 / 10.0" if user == LEARNERS[0] else "0.0 / 10.0"
        assert f"Score: {expected}" in text, f"{user}'s feedback shows the gradebook's total"
        assert "BEGIN HIDDEN TESTS" not in text
