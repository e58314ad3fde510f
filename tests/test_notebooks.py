"""The course notebooks through the real pipeline: run, release, autograde.

- every solution notebook runs top to bottom with all its tests (visible and hidden) passing;
- notebooks/ is exactly what `nbgrader generate_assignment` makes from solutions/ now;
- the course's grader (`make autograde`: `python -m grading`, sandboxed, on nbgrader's gradebook)
  gives the solution full marks and the blank release zero, and each
  realistic mistake (tests/mistakes/<assignment>.py) loses exactly its own exercise's points.
"""

import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrading import (
    ASSIGNMENTS,
    ROOT,
    exercise_of,
    grades,
    make_course,
    make_submission,
    mistake_source,
    mistakes,
    nbgrader_meta,
    read,
    run_grading,
    write_submission,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A throw-away course with every assignment generated from solutions/."""
    return make_course(tmp_path_factory.mktemp("course"), ASSIGNMENTS)


def test_there_are_assignments():
    assert len(ASSIGNMENTS) >= 3, ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_in_sync_with_solutions(course, assignment):
    released = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
    assert released.exists(), f"run `make release`: {released} is missing"
    assert read(released) == read(course / "notebooks" / assignment / f"{assignment}.ipynb"), \
        "notebooks/ is out of date with solutions/: run `make release`"
    text = released.read_text()
    for leak in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert leak not in text, f"{leak!r} leaked into the learner notebook"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_runs_and_passes_its_tests(tmp_path, assignment):
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    print(f"{assignment}: solution notebook ran in {time.perf_counter() - start:.1f} s")
    graded = [c for c in nb.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]
    assert len(graded) >= 3, "every notebook has at least three graded exercises"
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.outputs), "at least one figure"


@pytest.fixture(scope="session")
def autograded(course):
    """``autograded(assignment)``: submissions (solution, blank, each mistake) graded by the grader,
    once per assignment and only for the assignments a test run asks for."""
    done = set()

    def grade(assignment: str):
        if assignment in done:
            return course
        release = read(course / "notebooks" / assignment / f"{assignment}.ipynb")
        solution = read(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
        subs = {"solution": make_submission(release, solution),
                "blank": make_submission(release, solution, blank=True)}
        for mistake in mistakes(assignment):
            source = mistake_source(solution, mistake)
            subs[mistake["name"]] = make_submission(release, solution, {mistake["cell"]: source})
        for student, nb in subs.items():
            write_submission(course, student, assignment, nb)
        run_grading(course, assignment, "--jobs", "2")
        done.add(assignment)
        return course

    return grade


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde_solution_full_marks_blank_zero(autograded, assignment):
    course = autograded(assignment)
    solution = grades(course, assignment, "solution")
    assert solution and all(score == full for score, full in solution.values()), solution
    blank = grades(course, assignment, "blank")
    assert all(score == 0 for score, _ in blank.values()), f"a stub scored: {blank}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_mistake_loses_exactly_its_exercise(autograded, assignment):
    found = mistakes(assignment)
    assert len(found) >= 3, "at least three realistic mistakes per notebook"
    course = autograded(assignment)
    for mistake in found:
        scores = grades(course, assignment, mistake["name"])
        exercise = exercise_of(mistake["cell"])
        lost = {cell for cell, (score, full) in scores.items() if score < full}
        expected = {cell for cell in scores if exercise_of(cell) == exercise}
        assert lost == expected, (f"{mistake['name']}: expected to lose {sorted(expected)}, "
                                  f"lost {sorted(lost)}")
        assert all(scores[cell][0] == 0 for cell in expected), f"{mistake['name']}: partial credit"
