"""The hostile suite: attacks and faults against `make autograde` (python -m grading), with exact scores.

All submissions of tests/hostile.py (plus the solution twice and the blank release) are graded in
one coordinator call, sandboxed, on two workers. Each must get exactly its expected points per
exercise; a cheat loses its exercise (with "tampering detected" where it tampered), every honest
exercise keeps its points, nothing is written outside the sandbox, and the gradebook changes only
in the students' grades.
"""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from hostile import ASSIGNMENT, FULL, HOSTILE
from nbgrading import ROOT, exercise_of, grades, make_course, make_submission, read, write_submission

pytestmark = pytest.mark.slow
CELL_TIMEOUT = 45  # the hanging submission costs this much; legitimate cells take a few seconds


def by_exercise(cells: dict[str, tuple[float, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for grade_id, (score, _) in cells.items():
        totals[exercise_of(grade_id)] = totals.get(exercise_of(grade_id), 0.0) + score
    return totals


def tree(root) -> set[str]:
    """Every path under ``root`` outside the folders grading is meant to write."""
    skip = ("autograded", "feedback", ".grading", "gradebook.db", "submitted")
    paths = (str(p.relative_to(root)) for p in root.rglob("*"))
    return {p for p in paths if not p.startswith(skip)}


def schema_and_course(db) -> tuple[list, list]:
    """The gradebook's tables and its course content (assignments, notebooks, cells)."""
    with sqlite3.connect(db) as con:
        tables = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        content = [sorted(con.execute(f"SELECT * FROM {t}").fetchall())
                   for t in ("assignment", "notebook", "base_cell", "grade_cells", "source_cell")]
    return tables, content


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A throw-away course, every hostile submission written into it, then `python -m grading autograde`."""
    course = make_course(tmp_path_factory.mktemp("hostile-course"), [ASSIGNMENT])
    release = read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    subs = {"solution": make_submission(release, solution),
            "solution-again": make_submission(release, solution),
            "blank": make_submission(release, solution, blank=True)}
    for case in HOSTILE:
        answers = {gid: src.replace("__COURSE_ROOT__", str(course)) for gid, src in case["answers"].items()}
        subs[case["name"]] = make_submission(release, solution, answers)
    for student, nb in subs.items():
        write_submission(course, student, ASSIGNMENT, nb)
    before = tree(course), schema_and_course(course / "gradebook.db")
    done = subprocess.run([sys.executable, "-m", "grading", "autograde", "--jobs", "2", "--timeout",
                           str(CELL_TIMEOUT)], cwd=course, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(done.stdout, done.stderr[-3000:])
    return course, before, done


def test_autograde_grades_every_submission(graded):
    _, _, done = graded
    assert done.returncode == 0, done.stderr[-3000:]


def test_solution_full_marks_blank_zero_and_regrading_is_identical(graded):
    course = graded[0]
    assert by_exercise(grades(course, ASSIGNMENT, "solution")) == FULL
    assert by_exercise(grades(course, ASSIGNMENT, "blank")) == {"ex1": 0.0, "ex2": 0.0, "ex3": 0.0}
    first, again = (json.loads((course / ".grading" / "jobs" / ASSIGNMENT / s / ASSIGNMENT / "out" /
                                "scores.json").read_text()) for s in ("solution", "solution-again"))
    assert first["cells"] == again["cells"]


@pytest.mark.parametrize("case", HOSTILE, ids=[c["name"] for c in HOSTILE])
def test_hostile_submission_gets_exactly_its_expected_scores(graded, case):
    course = graded[0]
    assert by_exercise(grades(course, ASSIGNMENT, case["name"])) == case["expected"]
    scores = json.loads((course / ".grading" / "jobs" / ASSIGNMENT / case["name"] / ASSIGNMENT / "out" /
                         "scores.json").read_text())
    flagged = sorted({c["exercise"] for c in scores["cells"].values()
                      if (c["message"] or "").find("tampering detected") >= 0})
    assert flagged == case["tampering"], scores["cells"]
    feedback = (course / "feedback" / case["name"] / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert ("tampering detected" in feedback) == bool(case["tampering"])


def test_faults_say_what_happened(graded):
    course = graded[0]

    def messages(student):
        path = course / ".grading" / "jobs" / ASSIGNMENT / student / ASSIGNMENT / "out" / "scores.json"
        return {gid: c["message"] for gid, c in json.loads(path.read_text())["cells"].items()}

    assert "kernel died" in messages("kernel-dies")["ex3-prune-smallest-tests"]
    assert f"longer than {CELL_TIMEOUT} s" in messages("hangs")["ex2-num-to-prune-tests"]


def test_nothing_escapes_the_sandbox(graded):
    course, (files_before, db_before), _ = graded
    assert tree(course) == files_before, "a submission wrote into the course"
    assert not (course.parent / "pwned.txt").exists()
    assert schema_and_course(course / "gradebook.db") == db_before, "the gradebook's course content changed"
    scored = (course / "autograded" / "escape" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    for attempt in ("write-root", "gradebook", "network", "home"):
        assert f"{attempt} failed" in scored, f"{attempt} did not fail inside the sandbox"
    for hidden in ("solutions", "submitted", "gradebook.db", ".grading"):
        assert f"{hidden} visible: False" in scored, f"{hidden} is visible inside the sandbox"


def test_sandbox_refuses_clearly_without_bubblewrap(tmp_path):
    """No silent downgrade: without bwrap on PATH the command refuses, says why and names the opt-out."""
    course = make_course(tmp_path / "course", [ASSIGNMENT])
    release = read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    write_submission(course, "someone", ASSIGNMENT, release)
    env = {**os.environ, "PATH": os.path.dirname(sys.executable), "PYTHONPATH": str(ROOT)}
    env.pop("GRADING_NO_SANDBOX", None)
    done = subprocess.run([sys.executable, "-m", "grading", "autograde"], cwd=course, capture_output=True,
                          text=True, env=env)
    assert done.returncode != 0
    assert "refusing to grade" in done.stderr and "bubblewrap" in done.stderr, done.stderr
    assert "--no-sandbox" in done.stderr and "GRADING_NO_SANDBOX=1" in done.stderr
    assert not (course / "autograded").exists() and not (course / ".grading" / "jobs").exists()
