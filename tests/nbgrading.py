"""Support for the notebook tests: a throw-away nbgrader course, submissions made from the
solutions (right, blank or with one realistic mistake), and the grades nbgrader gives them."""

from __future__ import annotations

import copy
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and p.name[0].isdigit())
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[ \t]*$", re.MULTILINE | re.DOTALL)


def run_nbgrader(args: list[str], cwd: Path) -> str:
    """Run an nbgrader command with the venv's bin/ first on PATH (nbgrader calls alembic)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def run_grading(course: Path, *args: str) -> str:
    """``python -m grading autograde ARGS`` in ``course`` (what ``make autograde`` runs), sandboxed."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "grading", "autograde", *args], cwd=course, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"grading {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def make_course(root: Path, assignments: list[str]) -> Path:
    """Copy the config and solutions into ``root`` and generate the learner versions there."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for assignment in assignments:
        shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.png"))
        run_nbgrader(["generate_assignment", assignment, "--force"], root)
    return root


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_text(source: str) -> str:
    """A solution cell as a learner would write it: the marker lines removed."""
    return MARKERS.sub("", source)


def with_body(source: str, body: str) -> str:
    """Replace the solution region of ``source`` by ``body``, indented like the markers."""
    match = REGION.search(source)
    assert match, "solution cell without ### BEGIN/END SOLUTION"
    indent = match.group(1)
    lines = [indent + line if line.strip() else line for line in body.strip("\n").splitlines()]
    return source[:match.start()] + "\n".join(lines) + source[match.end():]


def mistakes(assignment: str) -> list[dict]:
    """The realistic wrong answers for ``assignment`` (tests/mistakes/<assignment>.py)."""
    path = Path(__file__).parent / "mistakes" / f"{assignment}.py"
    return runpy.run_path(str(path))["MISTAKES"] if path.exists() else []


def make_submission(release: dict, solution: dict, replace: dict[str, str] | None = None,
                    blank: bool = False) -> dict:
    """The release notebook with its solution cells answered from ``solution``.

    ``replace`` maps a solution cell's grade_id to a learner's cell source; ``blank`` leaves
    every solution cell as released (the stub).
    """
    answers = {nbgrader_meta(c).get("grade_id"): "".join(c["source"]) for c in solution["cells"]
               if nbgrader_meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        if not meta.get("solution") or blank:
            continue
        grade_id = meta["grade_id"]
        cell["source"] = (replace or {}).get(grade_id, solution_text(answers[grade_id]))
    return nb


def mistake_source(solution: dict, mistake: dict) -> str:
    """The cell source a mistake stands for: a whole ``source``, or a ``body`` in the solution region."""
    if "source" in mistake:
        return mistake["source"]
    original = next("".join(c["source"]) for c in solution["cells"]
                    if nbgrader_meta(c).get("grade_id") == mistake["cell"])
    return with_body(original, mistake["body"])


def write_submission(course: Path, student: str, assignment: str, nb: dict) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1))


def grades(course: Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """``{grade_id: (score, max_score)}`` of the autograded test cells of one submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.score, g.max_score) for g in notebook.grades if g.cell_type == "code"}


def exercise_of(grade_id: str) -> str:
    """``ex2-prune-layer-tests`` -> ``ex2``: the exercise a cell belongs to."""
    return grade_id.split("-", 1)[0]


def submit_as(course: Path, assignment: str, student: str, answer: str = "solution") -> dict:
    """Write ``student``'s submission made from the release: ``"solution"``, ``"blank"``, or the name
    of a mistake in tests/mistakes/<assignment>.py. Returns the notebook."""
    release = read(course / "notebooks" / assignment / f"{assignment}.ipynb")
    solution = read(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    if answer in ("solution", "blank"):
        nb = make_submission(release, solution, blank=answer == "blank")
    else:
        wrong = next(m for m in mistakes(assignment) if m["name"] == answer)
        nb = make_submission(release, solution, {wrong["cell"]: mistake_source(solution, wrong)})
    write_submission(course, student, assignment, nb)
    return nb
