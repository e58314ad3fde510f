"""The hostile suite: attacks and faults against `make autograde` (python -m grading), with exact scores.

All submissions of tests/hostile.py (plus the solution twice and the blank release) are graded in
one coordinator call, sandboxed, on two workers. Each must get exactly its expected points per
exercise; a cheat loses its exercise, screening flags exactly the exercises it should (for manual
grading, without changing a score), every honest exercise keeps its points, nothing is written
outside the sandbox, no hidden test reaches any feedback, and the gradebook changes only in the
students' grades.
"""

import json
import os
import sqlite3
import subprocess
import sys

import nbformat
import pytest
from hostile import ASSIGNMENT, FULL, HOSTILE
from nbgrading import ROOT, exercise_of, grades, make_course, make_submission, read, write_submission

pytestmark = pytest.mark.slow
CELL_TIMEOUT = 45  # the hanging submission costs this much; legitimate cells take a few seconds
SECRET = "GRADING_TEST_SECRET"  # in the grader's environment; must never reach a sandbox
HIDDEN_LINES = ("BEGIN HIDDEN TESTS", "def torch_count", "tiny but not zero", "(30_000, 0.37)")


def with_extra_cells(nb: dict, extra: list) -> dict:
    """``nb`` with each ``(after_grade_id, cell)`` of ``extra`` inserted after that cell."""
    for after, spec in reversed(extra):
        index = next(
            i
            for i, c in enumerate(nb["cells"])
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == after
        )
        if spec.get("markdown"):
            cell = nbformat.v4.new_markdown_cell(spec["source"])
        else:
            cell = nbformat.v4.new_code_cell(spec["source"])
        if "grade_id" in spec:
            cell.metadata["nbgrader"] = {
                "grade": True,
                "solution": False,
                "locked": True,
                "schema_version": 3,
                "grade_id": spec["grade_id"],
                "points": spec["points"],
            }
        nb["cells"].insert(index + 1, json.loads(nbformat.writes(cell)))
    return nb


def job_scores(course, student) -> dict:
    return json.loads(
        (course / ".grading" / "jobs" / ASSIGNMENT / student / ASSIGNMENT / "out" / "scores.json").read_text()
    )


def learner_files(course, student) -> str:
    """Everything the learner gets back: the scored notebook and the feedback page."""
    return "".join(
        p.read_text()
        for p in (
            course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
            course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html",
        )
    )


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
        content = [
            sorted(con.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("assignment", "notebook", "base_cell", "grade_cells", "source_cell")
        ]
    return tables, content


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A throw-away course, every hostile submission written into it, then `python -m grading autograde`."""
    course = make_course(tmp_path_factory.mktemp("hostile-course"), [ASSIGNMENT])
    release = read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    subs = {
        "solution": make_submission(release, solution),
        "solution-again": make_submission(release, solution),
        "blank": make_submission(release, solution, blank=True),
    }
    for case in HOSTILE:
        answers = {gid: src.replace("__COURSE_ROOT__", str(course)) for gid, src in case["answers"].items()}
        subs[case["name"]] = with_extra_cells(
            make_submission(release, solution, answers), case.get("extra_cells", [])
        )
    for student, nb in subs.items():
        write_submission(course, student, ASSIGNMENT, nb)
    before = tree(course), schema_and_course(course / "gradebook.db")
    done = subprocess.run(
        [sys.executable, "-m", "grading", "autograde", "--jobs", "2", "--timeout", str(CELL_TIMEOUT)],
        cwd=course,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), SECRET: "do-not-leak"},
    )
    print(done.stdout, done.stderr[-3000:])
    return course, before, done


def test_autograde_grades_every_submission(graded):
    _, _, done = graded
    assert done.returncode == 0, done.stderr[-3000:]


def test_solution_full_marks_blank_zero_and_regrading_is_identical(graded):
    course = graded[0]
    assert by_exercise(grades(course, ASSIGNMENT, "solution")) == FULL
    assert by_exercise(grades(course, ASSIGNMENT, "blank")) == {"ex1": 0.0, "ex2": 0.0, "ex3": 0.0}
    first, again = (
        json.loads(
            (course / ".grading" / "jobs" / ASSIGNMENT / s / ASSIGNMENT / "out" / "scores.json").read_text()
        )
        for s in ("solution", "solution-again")
    )
    assert first["cells"] == again["cells"]


@pytest.mark.parametrize("case", HOSTILE, ids=[c["name"] for c in HOSTILE])
def test_hostile_submission_gets_exactly_its_expected_scores(graded, case):
    course = graded[0]
    assert by_exercise(grades(course, ASSIGNMENT, case["name"])) == case["expected"]
    scores = job_scores(course, case["name"])
    tested = sorted(gid for gid, cell in scores["cells"].items() if cell["exercise"].startswith("ex"))
    assert tested == sorted(grades(course, ASSIGNMENT, "solution")), scores["cells"]
    assert sorted(scores["flags"]) == case["flagged"], scores["flags"]
    returned = learner_files(course, case["name"])
    for text in case.get("absent", []):
        assert text not in returned, f"{case['name']}: {text!r} reached the learner"
    page = (course / "feedback" / case["name"] / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    for text in case.get("absent_html", []):
        assert text not in page, f"{case['name']}: {text!r} is in the feedback page"
    scored = (course / "autograded" / case["name"] / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    for text in case.get("present", []):
        assert text in scored, f"{case['name']}: {text!r} missing from the scored notebook"


def test_screening_flags_reach_the_gradebook_for_manual_grading(graded):
    """A flagged exercise needs manual grading in the gradebook, with the reason as a comment;
    its score is unchanged. An unflagged submission needs none."""
    from nbgrader.api import Gradebook

    course = graded[0]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        flagged = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "frame-and-liar")
        needs = {g.name for g in flagged.grades if g.needs_manual_grade and g.cell_type == "code"}
        assert needs == {"ex1-sparsity-tests", "ex2-num-to-prune-tests"}
        written = {g.name: g.needs_manual_grade for g in flagged.grades if g.cell_type == "markdown"}
        assert written == {"reflection-prune-which-layers": True}, "a written answer waits for a person"
        comments = {c.name: c.auto_comment for c in flagged.comments}
        assert "_getframe" in (comments["ex1-sparsity"] or ""), comments
        clean = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "solution")
        assert not any(g.needs_manual_grade for g in clean.grades if g.cell_type == "code")


def test_no_hidden_test_reaches_any_feedback(graded):
    course = graded[0]
    for path in [*(course / "feedback").rglob("*.html"), *(course / "autograded").rglob("*.ipynb")]:
        text = path.read_text()
        for line in HIDDEN_LINES:
            assert line not in text, f"{path}: hidden test text {line!r}"


def test_a_hanging_cell_of_no_exercise_costs_one_time_limit(graded):
    scores = job_scores(graded[0], "free-cell-hangs")
    assert "cell " in scores["cells"]["ex2-num-to-prune-tests"]["message"]
    assert scores["seconds"] < 2.5 * CELL_TIMEOUT, scores["seconds"]


def test_memory_is_bounded_for_the_submission_as_a_whole(graded):
    scores = job_scores(graded[0], "resource-hog")
    if scores["memory_peak_bytes"] is not None:  # a memory cgroup was available
        assert scores["memory_peak_bytes"] <= 4 * 2**30 + 2**26, scores["memory_peak_bytes"]


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
    done = subprocess.run(
        [sys.executable, "-m", "grading", "autograde"], cwd=course, capture_output=True, text=True, env=env
    )
    assert done.returncode != 0
    assert "refusing to grade" in done.stderr and "bubblewrap" in done.stderr, done.stderr
    assert "--no-sandbox" in done.stderr and "GRADING_NO_SANDBOX=1" in done.stderr
    assert not (course / "autograded").exists() and not (course / ".grading" / "jobs").exists()
