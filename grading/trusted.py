"""The trusted side of grading one submitted notebook: where the verdict is reached.

It walks the *source* notebook's cells (the template: solutions cleared, tests kept) in order:

- a **course cell** that the tests need runs here, as the instructor wrote it (not the learner's
  copy of it);
- an **answer cell** is run in the learner's sandbox (with every learner cell before it, in the
  submission's order); the names the template's stub defines become :class:`RemoteFunction`
  proxies here, so a test that calls ``sparsity(x)`` sends ``x`` there as data and gets data back;
- a **test cell** runs here: its visible part, then its hidden part. The hidden source never leaves
  this process; the learner's side sees only the inputs the tests give its functions.

Scores come from these test runs and the template's points, never from anything in the submission.
A cell that kills the sandbox or runs out of time costs its exercise (a cell of no exercise: the
next one); a fresh sandbox replays the cells before it and grading goes on.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import time
import traceback
from dataclasses import dataclass, field

import nbformat
from nbgrader import utils

from .cells import defined_names, exercise_of, needed_cells, python_source, split_test
from .remote import LearnerDied, LearnerError, LearnerTimedOut, RemoteFunction, Sandbox
from .screen import screen

MAX_MESSAGE = 2000  # characters of a failure message kept in feedback


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")




@dataclass
class LearnerCell:
    """One code cell of the submission that runs in the sandbox."""

    index: int  # in the submission
    source: str
    answer: str | None  # the answer cell's grade_id, if it is one
    exercise: str | None  # what a fault here costs: its own exercise, else the next one
    free: bool  # written or changed by the learner and of no exercise: draws on the shared budget
    outputs: list = field(default_factory=list)
    error: dict | None = None
    withheld: bool = False
    problem: str | None = None
    ran: bool = False


class _NoShell:
    """``get_ipython()`` for course cells run here: magics do nothing (``%pip`` is for Colab)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class Grader:
    def __init__(
        self,
        template: nbformat.NotebookNode,
        submission: nbformat.NotebookNode,
        sandbox: Sandbox,
        timeout: int,
        free_budget: float | None = None,
        references: dict | None = None,
        assignment: str = "",
    ):
        self.template, self.submission, self.sandbox = template, submission, sandbox
        self.timeout = timeout
        self.free_left = float(timeout if free_budget is None else free_budget)
        self.references = references or {}
        self.number = assignment[:2]
        self.tests = {
            i: grade_id(c)
            for i, c in enumerate(template.cells)
            if c.cell_type == "code" and utils.is_grade(c) and not utils.is_solution(c)
        }
        self.answers = {
            i: grade_id(c)
            for i, c in enumerate(template.cells)
            if c.cell_type == "code" and utils.is_solution(c)
        }
        self.cells = self.learner_cells()
        self.position = 0  # learner cells run so far
        self.hidden_seen = False
        self.results: dict[str, dict] = {}
        self.problems: dict[str, str] = {}  # exercise -> what went wrong
        self.log: list[str] = []

    # The learner's side ------------------------------------------------------------------
    def learner_cells(self) -> list[LearnerCell]:
        """The submission's code cells that run in the sandbox, in its order: everything but test
        cells, up to its last answer cell."""
        course = {
            _source(c)
            for i, c in enumerate(self.template.cells)
            if c.cell_type == "code" and i not in self.tests and i not in self.answers
        }
        answer_ids, test_ids = set(self.answers.values()), set(self.tests.values())
        cells, seen = [], set()
        for index, cell in enumerate(self.submission.cells):
            if cell.cell_type != "code":
                continue
            gid = grade_id(cell)
            if gid in test_ids:
                continue
            answer = gid if gid in answer_ids and gid not in seen else None
            seen.add(answer)
            cells.append(
                LearnerCell(
                    index,
                    _source(cell),
                    answer,
                    exercise_of(answer) if answer else None,
                    free=answer is None and _source(cell) not in course,
                )
            )
        last = max((k for k, c in enumerate(cells) if c.answer), default=-1)
        cells = cells[: last + 1]
        upcoming = None
        for cell in reversed(cells):
            upcoming = cell.exercise or upcoming
            cell.exercise = cell.exercise or upcoming
        return cells

    def advance(self, answer: str) -> None:
        """Run the learner's cells up to and including the answer cell ``answer``."""
        target = next((k for k, c in enumerate(self.cells) if c.answer == answer), None)
        if target is None:
            return
        while self.position <= target:
            self.run_learner_cell(self.cells[self.position], replay=False)
            self.position += 1

    def run_learner_cell(self, cell: LearnerCell, replay: bool) -> None:
        if cell.problem:
            return
        self.revive()
        seconds = self.timeout if not cell.free else min(self.timeout, max(self.free_left, 0.0))
        start = time.monotonic()
        try:
            if seconds <= 0:
                raise LearnerTimedOut("out of time")
            answer = self.sandbox.run(cell.source, seconds)
            if not replay:
                cell.outputs, cell.error, cell.ran = answer.get("outputs", []), answer.get("error"), True
                cell.withheld = self.hidden_seen
        except LearnerTimedOut:
            cell.problem = (
                f"the cell ran longer than {self.timeout} s and was stopped"
                if seconds == self.timeout
                else f"cells outside the exercises used up their {self.free_left + seconds:.0f} s "
                "and this one was stopped"
            )
        except LearnerDied:
            cell.problem = "the kernel died while running this cell; grading went on"
        finally:
            if cell.free:
                self.free_left -= time.monotonic() - start
        if cell.problem:
            where = cell.answer or f"cell {cell.index + 1}"
            if cell.exercise:
                self.problems.setdefault(cell.exercise, f"{where}: {cell.problem}")

    def revive(self) -> None:
        """A fresh sandbox when the last one ended; it replays the cells that ran before."""
        if self.sandbox.alive:
            return
        self.sandbox.ensure()
        for cell in self.cells[: self.position]:
            if cell.ran and not cell.problem:
                self.run_learner_cell(cell, replay=True)

    # The trusted side --------------------------------------------------------------------
    def grade(self) -> dict:
        sources = [c.source if c.cell_type == "code" else "" for c in self.template.cells]
        stubs = {i: defined_names(self.template.cells[i].source) for i in self.answers}
        needed = needed_cells(sources, list(self.tests), stubs)
        ns = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "get_ipython": lambda: _NoShell(),
            "display": lambda *a, **k: None,
        }
        for index, cell in enumerate(self.template.cells):
            if cell.cell_type != "code":
                continue
            if index in self.answers:
                self.advance(self.answers[index])
                for name in stubs[index]:
                    ns[name] = RemoteFunction(self.sandbox, ("name", name), name)
            elif index in self.tests:
                self.results[self.tests[index]] = self.run_test(cell.source, ns, index)
            elif index in needed:
                self.run_course_cell(cell.source, ns, index)
        return self.results

    def run_course_cell(self, source: str, ns: dict, index: int) -> None:
        self.sandbox.deadline = time.monotonic() + self.timeout
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(python_source(source), f"<course cell {index + 1}>", "exec"), ns)  # noqa: S102
        except Exception as err:  # noqa: BLE001 -- the course's code; tests that need it fail by themselves
            self.log.append(f"course cell {index + 1}: {type(err).__name__}: {err}")

    def run_test(self, source: str, ns: dict, index: int) -> dict:
        """Run a test cell's visible part, then its hidden part; return what the learner may see."""
        visible, hidden = split_test(source)
        outputs: list[dict] = []
        passed, message = self.run_part(visible, ns, f"<test cell {index + 1}>", outputs, quiet=False)
        if passed and hidden.strip():
            self.hidden_seen = True
            hidden_outputs: list[dict] = []
            passed, failure = self.run_part(hidden, ns, "<hidden tests>", hidden_outputs, quiet=True)
            if passed:
                outputs.append({"kind": "stream", "name": "stdout", "text": "Hidden checks: passed.\n"})
            else:
                message = f"hidden check failed: {failure}"
                outputs.append(
                    {
                        "kind": "error",
                        "ename": "HiddenCheckFailed",
                        "evalue": failure,
                        "traceback": [f"Hidden check failed: {failure}"],
                    }
                )
        return {"passed": passed, "message": message, "outputs": outputs}

    def run_part(
        self, code: str, ns: dict, filename: str, outputs: list, quiet: bool
    ) -> tuple[bool, str | None]:
        self.revive_quietly()
        self.sandbox.deadline = time.monotonic() + self.timeout
        self.sandbox.quiet, self.sandbox.printed, self.sandbox.traces = quiet, [], []
        stdout = io.StringIO()
        error = None
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(code, filename, "exec"), ns)  # noqa: S102 -- the instructor's test
        except LearnerTimedOut:
            error = ("CellTimeout", f"the cell ran longer than {self.timeout} s and was stopped")
        except LearnerDied as err:
            error = ("KernelDied", f"the kernel died while running this check; grading went on ({err})")
        except Exception as err:  # noqa: BLE001 -- a failing check
            error = (type(err).__name__, _text(err))
            self.log.append(f"{filename} failed (for the instructor's log only):\n" + "".join(
                traceback.format_exception(type(err), err, err.__traceback__)[-6:])
                + "".join(f"in the sandbox:\n{t}" for t in self.sandbox.traces[-1:]))
            if not quiet:
                error = (error[0], error[1], _where(err, filename, code))
        if not quiet:
            printed = "".join(self.sandbox.printed) + stdout.getvalue()
            if printed:
                outputs.append({"kind": "stream", "name": "stdout", "text": printed[-20_000:]})
        self.sandbox.quiet, self.sandbox.printed = False, []
        if error is None:
            return True, None
        if not quiet:
            lines = [*error[2:3], f"{error[0]}: {error[1]}"]
            outputs.append({"kind": "error", "ename": error[0], "evalue": error[1], "traceback": lines})
        return False, f"{error[0]}: {error[1]}"[:MAX_MESSAGE]

    def revive_quietly(self) -> None:
        try:
            self.revive()
        except (LearnerDied, LearnerTimedOut) as err:
            self.log.append(f"the sandbox could not be restarted: {err}")

    # Screening ---------------------------------------------------------------------------
    def flags(self) -> dict[str, list[str]]:
        """``{exercise: [reasons]}`` for the learner's cells that need a human look."""
        found: dict[str, list[str]] = {}
        for cell in self.cells:
            if not (cell.answer or cell.free) or not cell.exercise:
                continue
            reference = self.references.get((self.number, cell.exercise))
            where = cell.answer or f"cell {cell.index + 1}"
            for reason in screen(cell.source, reference):
                found.setdefault(cell.exercise, []).append(f"{where}, {reason}")
        return found


def _source(cell) -> str:
    return "".join(cell.source) if isinstance(cell.source, list) else cell.source


def _text(err: BaseException) -> str:
    try:
        return str(err)[:MAX_MESSAGE]
    except Exception:  # noqa: BLE001
        return f"<{type(err).__name__}>"


def _where(err: BaseException, filename: str, code: str) -> str:
    """The line of the visible test that failed, as a learner sees it."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
    if not frames:
        return ""
    line = frames[-1].lineno
    text = code.splitlines()[line - 1].strip() if 0 < line <= len(code.splitlines()) else ""
    return f"line {line}: {text}"


__all__ = ["Grader", "LearnerError", "exercise_of", "grade_id"]
