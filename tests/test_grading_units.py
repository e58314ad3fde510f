"""Fast checks of the grading pipeline's parts: scoring, templates, the sandbox command, the batch recipe."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grading.__main__ import cell_timeout
from grading.coordinator import job_command
from grading.execute import Plan, course_imports
from grading.notebook import graded_copy, make_template, score
from grading.run_one import main as run_one_main
from grading.sandbox import JOB, bwrap_command, read_only_paths, sandbox_env

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "01-l1-unstructured" / "01-l1-unstructured.ipynb"


def graded_cell(grade_id: str, outputs: list, points: int = 2):
    cell = new_code_cell("assert True", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": points,
        "schema_version": 3}})
    cell.outputs = outputs
    return cell


@pytest.mark.parametrize("outputs, expected", [
    ([], 2.0),
    ([new_output("stream", name="stderr", text="UserWarning: careful\n")], 2.0),
    ([new_output("stream", name="stdout", text="ok\n"),
      new_output("stream", name="stderr", text="w\n")], 2.0),
    ([new_output("stream", name="stderr", text="w\n"),
      new_output("error", ename="AssertionError", evalue="no", traceback=[])], 0.0),
])
def test_stderr_never_zeroes_a_cell_but_an_error_does(outputs, expected):
    nb = new_notebook(cells=[graded_cell("ex1-tests", outputs)])
    assert score(nb, Plan(tests={0: "ex1-tests"}, course_names={}), [])["ex1-tests"]["score"] == expected


def test_a_problem_zeroes_its_own_exercise_only():
    nb = new_notebook(cells=[graded_cell("ex1-a-tests", []), graded_cell("ex2-b-tests", [], 3)])
    plan = Plan(tests={0: "ex1-a-tests", 1: "ex2-b-tests"}, course_names={},
                problems={1: "tampering detected: math.isclose was replaced"})
    scores = score(nb, plan, [])
    assert [scores[g]["score"] for g in ("ex1-a-tests", "ex2-b-tests")] == [2.0, 0.0]
    assert "tampering detected: math.isclose" in scores["ex2-b-tests"]["message"]


def test_template_keeps_hidden_tests_and_drops_solutions():
    template = nbformat.writes(make_template(SOURCE))
    assert "BEGIN HIDDEN TESTS" in template and "### BEGIN SOLUTION" not in template
    assert "(tensor == 0).sum().item() / tensor.numel()" not in template


def test_graded_copy_restores_locked_cells_and_reports_deleted_ones():
    template = make_template(SOURCE)
    submission = nbformat.from_dict(json.loads(nbformat.writes(template)))
    tests = [i for i, c in enumerate(submission.cells) if c.metadata.get("nbgrader", {}).get("locked")
             and c.metadata["nbgrader"].get("grade")]
    submission.cells[tests[0]].source = "pass  # the learner emptied the test"
    deleted = submission.cells.pop(tests[1])
    graded, missing = graded_copy(submission, template)
    assert graded.cells[tests[0]].source == template.cells[tests[0]].source
    assert missing == [deleted.metadata["nbgrader"]["grade_id"]]


def test_course_imports_name_the_modules_the_course_binds():
    names = course_imports(["import torch\nfrom torch import nn\nfrom torch.nn.utils import prune\n"
                            "import lightning as L\nimport os.path\n%pip install x"])
    assert names == {"torch": ["torch", None], "nn": ["torch", "nn"], "prune": ["torch.nn.utils", "prune"],
                     "L": ["lightning", None], "os": ["os", None]}


def test_sandbox_sees_no_solutions_gradebook_or_other_students(tmp_path):
    course, data = tmp_path / "course", tmp_path / "data"
    job = course / ".grading" / "jobs" / "x"
    (job / "in").mkdir(parents=True)
    (job / "cache").mkdir()
    (job / "template.ipynb").write_text("{}")
    for part in ("solutions", "submitted/other", "helpers", "notebooks", ".git"):
        (course / part).mkdir(parents=True)
    (course / "gradebook.db").write_text("")
    data.mkdir()
    visible = read_only_paths(course, data)
    assert course / "helpers" in visible and course / "notebooks" in visible
    assert not any(p in (course, course / "solutions", course / "submitted", course / ".git",
                         course / "gradebook.db") or course / "solutions" in p.parents for p in visible)
    cmd = bwrap_command(["python"], job, course, data, sandbox_env(course, data, 1))
    assert "--unshare-all" in cmd and "--clearenv" in cmd and "--die-with-parent" in cmd
    writable = [cmd[i + 1:i + 3] for i, arg in enumerate(cmd) if arg == "--bind"]
    assert writable == [[str(job.resolve() / "cache"), f"{JOB}/cache"]], "the only writable host path"
    remounted = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--remount-ro"]
    assert remounted == [str(course.resolve()), "/"], "the course root and the sandbox's root are read-only"
    assert cmd[cmd.index("--") + 1] == "prlimit" and any(a.startswith("--data=") for a in cmd)


def test_slurm_task_runs_the_same_command_as_the_local_runner(tmp_path):
    """The array task for index i runs job_command(job i) (with the course's venv python)."""
    jobs = [tmp_path / ".grading" / "jobs" / "01" / s / "01" for s in ("ann", "bob")]
    (tmp_path / ".grading").mkdir()
    (tmp_path / ".grading" / "jobs.txt").write_text("".join(f"{j}\n" for j in jobs))
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / "argv.txt"
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "2", "RECORD": str(record)}
    script = ROOT / "deploy" / "slurm" / "grade.sbatch"
    subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, check=True)
    assert record.read_text().splitlines() == job_command(jobs[1])[1:]
    assert Path(job_command(jobs[1])[0]).name.startswith("python")


def test_run_one_rejects_a_missing_notebook(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_one_main([str(tmp_path / "nope.ipynb"), "--template", str(SOURCE), "--out", str(tmp_path)])
    assert "is not a file: give the path of a notebook" in capsys.readouterr().err


def grading_cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m grading ARGS`` in ``course``, which has one (empty) assignment, 01-a."""
    (course / "solutions" / "01-a").mkdir(parents=True)
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=course, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_grading_cli_rejects_an_unknown_assignment(tmp_path):
    done = grading_cli(tmp_path, "prepare", "99-nope")
    assert done.returncode != 0
    assert "unknown assignment(s) ['99-nope']: the course has ['01-a']" in done.stderr


@pytest.mark.parametrize("config, expected", [("c.Execute.timeout = 77\n", 77), ("", 120)])
def test_cell_time_limit_is_nbgraders_execute_timeout(tmp_path, config, expected):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n" + config)
    assert cell_timeout(tmp_path) == expected


def test_grading_cli_says_when_there_is_nothing_to_grade(tmp_path):
    done = grading_cli(tmp_path, "autograde", "--no-sandbox")
    assert done.returncode != 0
    assert "nothing to grade: put submissions in submitted/<student>/<assignment>/" in done.stderr
