"""Formgrader in headless Chromium, as an instructor uses it after ``make autograde``: the submissions
appear with the grader's scores; its Autograde button grades a new submission in the sandbox with
the same verdict; manual points and a comment typed into the page change the total; the feedback
it then generates shows them.

``FORMGRADER_SCREENSHOT=docs/formgrader.png`` saves the README's screenshot of the grading page.
"""

import json
import os
import subprocess
import sys
import time

import browser
import pytest
from nbgrading import BIN, ROOT, grades, make_course, submit_as

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser.chromium() is None, reason="needs chromium and chromedriver (make browser)"),
]
A = "01-l1-unstructured"
WRITTEN = "reflection-prune-which-layers"


def gradebook():
    from nbgrader.api import Gradebook

    return Gradebook


def wait_for(condition, timeout: float = 60, what: str = "the page"):
    """``condition()`` once it is true; the page may redraw meanwhile (Backbone re-renders rows)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (StaleElementReferenceException, NoSuchElementException, AttributeError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def row(driver, student: str):
    rows = driver.find_elements("css selector", "table tbody tr")
    return next((r for r in rows if r.find_elements("css selector", ".student-id")
                 and r.find_element("css selector", ".student-id").text.strip() == student), None)


def click(driver, student: str, selector: str) -> None:
    """Click a button in ``student``'s row of the submissions table."""
    wait_for(lambda: row(driver, student).find_element("css selector", selector).click() or True,
             what=f"clicking {selector} for {student}")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("formgrader") / "course", [A])
    submit_as(course, A, "alice")
    nb = submit_as(course, A, "bob", "density-for-sparsity")
    answer = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == WRITTEN)
    answer["source"] = ("My table shows that fc1 can be pruned a lot before the accuracy drops by a point, "
                        "and fc1 is most of the weights, so that is most of the model's sparsity. The file "
                        "stays the same size because the zeros are still stored.")
    (course / "submitted" / "bob" / A / f"{A}.ipynb").write_text(json.dumps(nb, indent=1))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "grading", "autograde"], cwd=course, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    submit_as(course, A, "carol")  # submitted after grading
    return course


def test_formgrader_shows_grades_autogrades_and_takes_manual_grades(course, tmp_path):
    db = f"sqlite:///{course / 'gradebook.db'}"
    with browser.jupyterlab(course, tmp_path, raw=True) as url, browser.browser() as driver:
        driver.get(url.format(path="formgrader"))  # logs in: the pages' own API calls use the cookie
        wait_for(lambda: A in driver.find_element("tag name", "body").text, what="the assignments page")
        driver.get(url.format(path=f"formgrader/manage_submissions/{A}"))
        wait_for(lambda: row(driver, "bob"), what="the submissions table")
        score = lambda student: row(driver, student).find_element("css selector", ".score").text.strip()  # noqa: E731
        wait_for(lambda: score("alice") == "8 / 10" and score("bob") == "6 / 10", timeout=20,
                 what="the grader's scores in the table (alice 8 / 10, bob 6 / 10)")

        # formgrader's own Autograde button, on a submission nobody graded yet
        click(driver, "carol", ".autograde a")
        job = course / ".grading" / "jobs" / A / "carol" / A

        def graded():  # the job's result, then nbgrader's pipeline has recorded it
            done = (job / "out" / "scores.json").exists()
            return done and grades(course, A, "carol") == grades(course, A, "alice")

        wait_for(graded, timeout=300, what="formgrader's autograde of carol")
        driver.refresh()
        wait_for(lambda: row(driver, "carol") and score("carol") == "8 / 10", what="carol's score, shown")
        assert '"sandbox": true' in (job / "job.json").read_text(), "the button grades in the sandbox"

        # hand-grading bob: points for the written answer, and a comment
        with gradebook()(db) as gb:
            submission_id = gb.find_submission_notebook(A, A, "bob").id
        driver.get(url.format(path=f"formgrader/submissions/{submission_id}/"))
        points = wait_for(lambda: driver.find_elements("id", WRITTEN), what="the grading page")[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", points)
        points.clear()
        points.send_keys("1.5\t")
        comment = driver.find_element("id", f"{WRITTEN}-comment")
        comment.send_keys("Reads fc1's row of the table, but fc3 is not discussed.\t")

        def saved():
            with gradebook()(db) as gb:
                nb = gb.find_submission_notebook(A, A, "bob")
                grade = next(g for g in nb.grades if g.name == WRITTEN)
                note = next(c for c in nb.comments if c.name == WRITTEN)
                return grade.manual_score == 1.5 and note.manual_comment and "fc3" in note.manual_comment

        wait_for(saved, what="saving the manual grade")
        if os.environ.get("FORMGRADER_SCREENSHOT"):
            driver.save_screenshot(os.environ["FORMGRADER_SCREENSHOT"])

        driver.get(url.format(path=f"formgrader/manage_submissions/{A}"))
        wait_for(lambda: row(driver, "bob") and score("bob") == "7.5 / 10", what="bob's new total")
        click(driver, "bob", ".generate-feedback a")
        page = course / "feedback" / "bob" / A / f"{A}.html"
        wait_for(lambda: page.exists() and "fc3 is not discussed" in page.read_text(), timeout=120,
                 what="feedback generated from the gradebook")
    text = page.read_text()
    assert "Score: 7.5 / 10.0" in text and "Score: 1.5 / 2.0" in text
    assert "BEGIN HIDDEN TESTS" not in text
