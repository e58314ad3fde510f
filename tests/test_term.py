"""An instructor's term with nbgrader, on one machine: every way of autograding gives the same
grades, late work is penalised as configured, manual grades and comments survive regrades and reach
the feedback, one student can be regraded alone, and an LMS download comes in by ``zip_collect``.

One course with notebook 01 and four students: alice (right, on time), bob (one mistake, on time),
carol (right, 20 hours late) and dave (a file that is not a notebook).
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from nbgrading import BIN, ROOT, grades, make_course, run_nbgrader, submit_as

pytestmark = pytest.mark.slow
A = "01-l1-unstructured"
DUE = "2026-01-10 12:00:00 UTC"
ON_TIME, LATE = "2026-01-10 11:00:00.000000 UTC", "2026-01-11 08:00:00.000000 UTC"  # 20 h late
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}


def grading(course, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=course, env=ENV,
                          capture_output=True, text=True)


def submit(course, student, answer, timestamp) -> None:
    submit_as(course, A, student, answer)
    (course / "submitted" / student / A / "timestamp.txt").write_text(timestamp)


def totals(course) -> dict[str, tuple]:
    """``{student: (raw score, late penalty, score)}`` from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions(A)
        return {s.student.id: (s.score, s.late_submission_penalty,
                               max(0.0, s.score - s.late_submission_penalty)) for s in subs}


def set_config(course, text: str) -> None:
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\n" + text + "\n")


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """The course graded by ``python -m grading autograde``, and an untouched copy of it."""
    course = make_course(tmp_path_factory.mktemp("term") / "course", [A])
    run_nbgrader(["db", "assignment", "add", A, f"--duedate={DUE}"], course)
    submit(course, "alice", "solution", ON_TIME)
    submit(course, "bob", "density-for-sparsity", ON_TIME)
    submit(course, "carol", "solution", LATE)
    (course / "submitted" / "dave" / A).mkdir(parents=True)
    (course / "submitted" / "dave" / A / f"{A}.ipynb").write_text("{ this is not a notebook")
    fresh = course.parent / "fresh"
    shutil.copytree(course, fresh)
    done = grading(course, "autograde", "--jobs", "2")
    print(done.stdout[-4000:], done.stderr[-4000:])
    return course, fresh, done


def test_progress_summary_and_not_graded(term):
    course, _, done = term
    assert done.returncode == 1, "a submission was not graded: the command says so by its exit status"
    out = done.stdout
    assert "warming the checkpoint cache" in out and "[4/4]" in out and "left" in out, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:2][1:] == [A]}
    assert "8 / 10" in rows["alice"] and "reflection-prune-which-layers" in rows["alice"], rows["alice"]
    assert "6 / 10" in rows["bob"], rows["bob"]
    assert "NOT GRADED" in rows["dave"] and "log.txt" in rows["dave"], rows["dave"]
    log = rows["dave"].split("see ")[-1].strip()
    assert os.path.exists(log), log
    assert "NOT GRADED: dave/" in done.stderr


def test_make_autograde_and_nbgrader_autograde_agree(term):
    """``nbgrader autograde`` (formgrader's button runs the same) grades in the sandbox, with the
    same verdicts as ``make autograde``: the course's config puts the same grader in its pipeline."""
    course, fresh, _ = term
    done = subprocess.run([str(BIN / "nbgrader"), "autograde", A, "--force"], cwd=fresh, env=ENV,
                          capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "for student 'dave'" in out, "dave's file is not a notebook"
    assert out.count("sandboxed: True") == 3, out[-3000:]
    for student in ("alice", "bob", "carol"):
        assert grades(fresh, A, student) == grades(course, A, student), student
    assert totals(fresh)["bob"] == totals(course)["bob"]
    assert not (fresh / ".grading" / "jobs" / A / "dave" / A / "out" / "scores.json").exists()


@pytest.mark.parametrize("config, carol, alice", [
    ('c.LateSubmissionPlugin.penalty_method = "none"', (8, 0, 8), (8, 0, 8)),
    ('c.LateSubmissionPlugin.penalty_method = "zero"', (8, 8, 0), (8, 0, 8)),
    ('c.AssignLatePenalties.plugin_class = "grading.late.PerDay"\nc.PerDay.fraction_per_day = 0.25',
     (8, 2, 6), (8, 0, 8)),
], ids=["none", "zero", "per-day"])
def test_late_penalties(term, config, carol, alice):
    """nbgrader's LateSubmissionPlugin decides, from timestamp.txt and the due date, for every method
    the README offers; recording again (``collect``) reuses the graded jobs."""
    course = term[0]
    results = sorted((course / ".grading" / "jobs").rglob("scores.json"))
    before = [p.stat().st_mtime_ns for p in results]
    set_config(course, config)
    try:
        done = grading(course, "collect")
        assert "NOT GRADED: dave/" in done.stderr, done.stderr[-2000:]
        got = totals(course)
        assert got["carol"] == carol and got["alice"] == alice, got
        assert [p.stat().st_mtime_ns for p in results] == before, "collect graded again instead of reusing"
    finally:
        set_config(course, "")


def test_regrade_one_student_keeps_manual_grades_and_feedback_follows_the_gradebook(term):
    from nbgrader.api import Gradebook

    course = term[0]
    others = {s: (course / ".grading" / "jobs" / A / s / A / "out" / "scores.json").stat().st_mtime_ns
              for s in ("alice", "carol")}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(A, A, "bob")
        written = next(g for g in nb.grades if g.name == "reflection-prune-which-layers")
        assert written.needs_manual_grade and written.auto_score is None
        written.manual_score = 1.5
        test = next(g for g in nb.grades if g.name == "ex1-sparsity-tests")
        test.manual_score = 1.0  # partial credit the grader decided to give
        comment = next(c for c in nb.comments if c.name == "ex1-sparsity")
        comment.manual_comment = "Density is 1 - sparsity: MANUAL-COMMENT-1"
        gb.db.commit()
    done = grading(course, "autograde", "--student", "bob")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[1/1]" in done.stdout and "alice" not in done.stdout, done.stdout[-2000:]
    for student, mtime in others.items():
        result = course / ".grading" / "jobs" / A / student / A / "out" / "scores.json"
        assert result.stat().st_mtime_ns == mtime, f"{student} was regraded too"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(A, A, "bob")
        by_name = {g.name: g for g in nb.grades}
        assert by_name["reflection-prune-which-layers"].manual_score == 1.5
        assert by_name["ex1-sparsity-tests"].manual_score == 1.0
        assert by_name["ex1-sparsity-tests"].needs_manual_grade, "a manual score, regraded, asks for review"
        score = gb.find_submission(A, "bob").score
    assert score == 6 + 1.0 + 1.5, score
    page = (course / "feedback" / "bob" / A / f"{A}.html").read_text()
    assert "MANUAL-COMMENT-1" in page, "the grader's comment reaches the learner"
    assert f"Score: {score:.1f} / 10.0" in page, "the feedback's total is the gradebook's"
    assert "Score: 1.5 / 2.0" in page, "the hand-graded answer's points are in the feedback"


def test_zip_collect_brings_an_lms_download_in(term, tmp_path):
    """The course's file-name pattern (README: "Submissions from an LMS"): ``<name>_<id>_<id>_<file>``,
    as Canvas names a class download, with ``LATE_`` where Canvas marks late work."""
    course = term[1]
    archive = course / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    notebook = (course / "submitted" / "alice" / A / f"{A}.ipynb").read_bytes()
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        z.writestr(f"erin_10234_558812_{A}.ipynb", notebook)
        z.writestr(f"frank_LATE_10235_558813_{A}.ipynb", notebook)
        z.writestr("readme.txt", "not a submission")
    out = run_nbgrader(["zip_collect", A, "--force"], course)
    for student in ("erin", "frank"):
        path = course / "submitted" / student / A / f"{A}.ipynb"
        assert path.read_bytes() == notebook, out[-2000:]
    assert json.loads(notebook)["cells"], "the copied notebook is the submitted one"
