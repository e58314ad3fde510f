"""Fast checks of the grading pipeline's parts: the data codec, scoring, cells, screening, the
sandbox command, the batch recipe."""

import json
import os
import stat
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook
from torch import nn
from torch.nn.utils import prune

from grading import codec
from grading.__main__ import cell_timeout
from grading.cells import defined_names, needed_cells, split_test, visible_source
from grading.coordinator import finished, job_command
from grading.notebook import make_template, score, scored_notebook
from grading.sandbox import DATA, JOB, bwrap_command, read_only_paths, sandbox_env
from grading.screen import references, screen
from grading.trusted import Grader

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "01-l1-unstructured" / "01-l1-unstructured.ipynb"


def round_trip(value, mutate=None):
    """``value`` sent to a learner's side and back, as the grader does: returns (result, value after)."""
    sent = codec.Encoder(own_tokens=True)
    message = sent.message(value)
    blob = codec.dumps(message)
    there = codec.Decoder(storages=codec.loads_trusted(blob)["storages"], trusted=False)
    theirs = there.decode(codec.loads_trusted(blob)["body"])
    result = mutate(theirs) if mutate else theirs
    back = codec.Encoder(
        tokens={id(o): t for t, o in there.by_token.items()},
        storage_tokens=there.storage_tokens,
        snapshots=there.snapshots,
    )
    reply = codec.loads_data(codec.dumps(back.message((result, theirs))))
    mine = codec.Decoder(storages=reply["storages"], objects=sent.objects)
    return mine.decode(reply["body"])


def test_a_layer_pruned_on_the_learners_side_is_pruned_here_in_place():
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    weight = layer.weight

    def prune_it(theirs):
        prune.l1_unstructured(theirs, "weight", amount=0.5)
        return theirs

    result, after = round_trip(layer, prune_it)
    assert result is layer and after is layer, "what was given comes back as the same object"
    reference = nn.Linear(4, 3)
    reference.load_state_dict({"weight": weight.detach().clone(), "bias": layer.bias.detach().clone()})
    prune.l1_unstructured(reference, "weight", amount=0.5)
    assert torch.equal(layer.weight_mask, reference.weight_mask) and prune.is_pruned(layer)
    assert layer.weight_orig is weight, "the parameter object is kept"
    assert torch.equal(layer(torch.ones(1, 4)), reference(torch.ones(1, 4)))
    prune.remove(layer, "weight")  # the hook that came back is torch's own pruning method
    assert not prune.is_pruned(layer)


def test_shared_storage_and_in_place_changes_survive_the_trip():
    state = {"w": torch.arange(6.0).view(2, 3)}

    def share(theirs):
        theirs["w"].mul_(2)
        return theirs["w"][0]  # a view of the argument

    view, after = round_trip(state, share)
    assert after is state and torch.equal(state["w"], torch.arange(6.0).view(2, 3) * 2)
    assert view.untyped_storage().data_ptr() == state["w"].untyped_storage().data_ptr()
    view.fill_(-1)
    assert torch.equal(state["w"][0], torch.full((3,), -1.0))


@pytest.mark.parametrize(
    "value",
    [
        3,
        0.25,
        True,
        None,
        "text",
        (1, 2.0),
        [1, [2]],
        {"a": 1, 3: "b"},
        OrderedDict(x=1),
        torch.Size([2, 3]),
        torch.float64,
        torch.sparse_csr,
        torch.randn(3, 3).to_sparse_csr(),
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()),
    ],
)
def test_plain_values_come_back_equal(value):
    result, _ = round_trip(value)
    if isinstance(value, torch.Tensor):
        assert torch.equal(result.to_dense(), value.to_dense()) and result.layout == value.layout
    elif isinstance(value, nn.Module):
        assert type(result) is type(value) and str(result) == str(value)
        assert all(
            torch.equal(a, b)
            for a, b in zip(result.state_dict().values(), value.state_dict().values(), strict=True)
        )
    else:
        assert result == value and type(result) is type(value)


def test_the_trusted_side_refuses_classes_code_and_pickles_from_the_learner():
    for desc in (
        {"@": "module", "class": "__main__.Evil", "id": 1},
        {"@": "object", "class": "os.system", "id": 1, "attrs": []},
        {"@": "global", "module": "os", "name": "system"},
        {"@": "pickle", "data": b"cos\nsystem\n(S'true'\ntR."},
    ):
        with pytest.raises(codec.DecodeError):
            codec.Decoder(storages={}).decode(desc)
    with pytest.raises(Exception, match="Unsupported|weights_only|global"):
        codec.loads_data(codec.dumps({"evil": subprocess.Popen}))


def test_a_learner_class_comes_back_as_a_placeholder_that_fails_when_used():
    class Liar(int):
        def __eq__(self, other):
            return True

    sent = codec.Encoder()
    reply = codec.dumps(sent.message(Liar(0)))
    assert codec.Decoder(storages={}).decode(codec.loads_data(reply)["body"]) == 0  # a plain 0, not a liar
    opaque = codec.Decoder(storages={}).decode({"@": "opaque", "type": "__main__.Thing"})
    with pytest.raises(TypeError, match="cannot be used by the grader"):
        opaque.shape  # noqa: B018


def test_a_cell_outside_the_exercises_costs_the_next_exercise():
    template = new_notebook(
        cells=[
            new_code_cell(
                "def f():\n    raise NotImplementedError()",
                metadata={
                    "nbgrader": {
                        "grade": False,
                        "solution": True,
                        "grade_id": "ex1-f",
                        "locked": False,
                        "schema_version": 3,
                    }
                },
            ),
            new_code_cell(
                "assert f() == 1",
                metadata={
                    "nbgrader": {
                        "grade": True,
                        "solution": False,
                        "grade_id": "ex1-f-tests",
                        "points": 2,
                        "locked": True,
                        "schema_version": 3,
                    }
                },
            ),
        ]
    )
    submission = nbformat.from_dict(json.loads(nbformat.writes(template)))
    submission.cells.insert(0, new_code_cell("print('scratch')"))
    grader = Grader(template, submission, sandbox=None, timeout=5)
    assert [(c.answer, c.exercise, c.free) for c in grader.cells] == [
        (None, "ex1", True),
        ("ex1-f", "ex1", False),
    ]
    grader.results = {"ex1-f-tests": {"passed": True, "message": None, "outputs": []}}
    assert score(template, grader)["ex1-f-tests"]["score"] == 2.0
    grader.problems = {"ex1": "cell 1: the cell ran longer than 5 s and was stopped"}
    scores = score(template, grader)
    assert scores["ex1-f-tests"]["score"] == 0.0 and "longer than 5 s" in scores["ex1-f-tests"]["message"]


def test_scores_ignore_the_submissions_cells_and_metadata():
    template = make_template(SOURCE)
    submission = nbformat.from_dict(json.loads(nbformat.writes(template)))
    bonus = new_code_cell(
        "assert True",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "grade_id": "ex9-bonus",
                "points": 50,
                "locked": True,
                "schema_version": 3,
            }
        },
    )
    submission.cells.append(bonus)
    grader = Grader(template, submission, sandbox=None, timeout=5)
    scores = score(template, grader)
    assert sorted(scores) == ["ex1-sparsity-tests", "ex2-num-to-prune-tests", "ex3-prune-smallest-tests",
                              "reflection-prune-which-layers"]
    assert sum(s["max_score"] for s in scores.values()) == 10
    assert scores["reflection-prune-which-layers"]["score"] is None, "a written answer waits for a person"
    scored = scored_notebook(template, submission, grader)
    assert "ex9-bonus" not in nbformat.writes(scored)


def test_test_cells_split_into_visible_and_hidden_parts():
    source = "a = 1\nassert a\n### BEGIN HIDDEN TESTS\nassert secret()\n### END HIDDEN TESTS\nprint('x')\n"
    visible, hidden = split_test(source)
    assert hidden == "assert secret()\n" and "secret" not in visible
    assert visible.splitlines()[5] == "print('x')", "line numbers of the visible part are kept"
    assert "secret" not in visible_source(source) and "HIDDEN" not in visible_source(source)


def test_the_trusted_side_runs_only_the_course_cells_tests_need():
    sources = [
        "import torch",
        "x = 1",
        "y = 2",
        "y += 1",
        "plot(y)",
        "def f(): pass",
        "assert f(x) == y",
        "print('late')",
    ]
    assert needed_cells(sources, [6], {5: ["f"]}) == {0, 1, 2, 3, 4}
    assert defined_names("def f(a):\n    return a\nb, c = 1, 2\n") == ["f", "b", "c"]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(t):\n    return (t == 0).float().mean().item()\n", []),
        ("import sys\ndef f(t):\n    print('x', file=sys.stderr)\n    return 0\n", []),
        (
            "import sys\ndef f(t):\n    return sys._getframe(1).f_globals['expected']\n",
            ["sys._getframe", "f_globals"],
        ),
        ("def f(t):\n    return eval('1')\n", ["uses eval"]),
        ("import inspect\n", ["imports inspect"]),
        ("x = get_ipython().user_ns\n", ["uses get_ipython"]),
        ("%time 1\n", ["uses get_ipython"]),
        ("y = (1).__class__.__bases__\n", ["__class__", "__bases__"]),
        ("def f(t):\n    return pruning.sparsity(t)\n", ["reference helper pruning.sparsity"]),
        ("from helpers.pruning import sparsity\n", ["reference helper pruning.sparsity"]),
    ],
)
def test_screening_names_what_an_honest_answer_would_not_do(source, expected):
    reasons = " ".join(screen(source, ("pruning", "sparsity")))
    for part in expected:
        assert part in reasons, reasons
    assert bool(expected) == bool(reasons), reasons


def test_every_exercise_reference_helper_is_known_to_screening():
    found = references(ROOT / "helpers")
    assert found[("01", "ex1")] == ("pruning", "sparsity")
    assert found[("06", "ex4")] == ("compact", "compact_bytes")
    assert len(found) >= 14


def test_template_keeps_hidden_tests_and_drops_solutions():
    template = nbformat.writes(make_template(SOURCE))
    assert "BEGIN HIDDEN TESTS" in template and "### BEGIN SOLUTION" not in template
    assert "(tensor == 0).sum().item() / tensor.numel()" not in template


def test_sandbox_sees_no_course_gradebook_or_template(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    checkpoint = tmp_path / "cache" / "LeNet300100-0.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    visible = read_only_paths()
    assert not any(p == tmp_path or tmp_path in p.parents for p in visible)
    cmd = bwrap_command(["python"], data, [checkpoint], sandbox_env(1))
    assert (
        "--clearenv" in cmd
        and "--die-with-parent" in cmd
        and "--unshare-net" in cmd
        and "--unshare-pid" in cmd
    )
    assert "--bind" not in cmd, "no host path is writable"
    binds = [cmd[i + 1 : i + 3] for i, arg in enumerate(cmd) if arg == "--ro-bind"]
    assert [str(data), DATA] in binds and [str(checkpoint), f"{JOB}/cache/{checkpoint.name}"] in binds
    sized = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--tmpfs" and cmd[i - 2] == "--size"]
    assert sized == ["/tmp", f"{JOB}/cache"], "/tmp and the cache are size-limited"
    if os.geteuid() == 0:
        assert "setpriv" in cmd and "--reuid=65534" in cmd and "--bounding-set=-all" in cmd
    assert cmd[cmd.index("prlimit") - 1] == "--"


def test_the_sandbox_runs_unprivileged_and_cannot_see_the_grader(tmp_path):
    if subprocess.run(["which", "bwrap"], capture_output=True).returncode:
        pytest.skip("bubblewrap is not installed here (make sandbox)")
    cmd = bwrap_command(
        [
            "sh",
            "-c",
            "id -u; grep CapEff /proc/self/status; ls /proc | grep -c '^[0-9]'; "
            "cat /proc/1/environ | tr '\\0' ' '",
        ],
        tmp_path,
        [],
        sandbox_env(1),
    )
    done = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    lines = done.stdout.splitlines()
    assert lines[0] == ("65534" if os.geteuid() == 0 else str(os.getuid()))
    assert lines[1].split()[1] == "0000000000000000", "no capabilities"
    assert int(lines[2]) <= 4, "only the sandbox's own processes are visible"
    assert (
        "GRADING" not in done.stdout
        and os.environ.get("HOME", "/nohome") not in done.stdout.split("HOME=")[-1][:1]
    )


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


def grading_cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m grading ARGS`` in ``course``, which has one (empty) assignment, 01-a."""
    (course / "solutions" / "01-a").mkdir(parents=True)
    return subprocess.run(
        [sys.executable, "-m", "grading", *args],
        cwd=course,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


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


def test_a_finished_job_is_reused_only_for_the_same_submission_and_template(tmp_path):
    """nbgrader's pipeline takes a worker's result only when the submitted file and the template are
    byte for byte the ones it graded; a resubmission or a changed test is graded again."""
    job, submitted, template = tmp_path / "job", tmp_path / "sub" / "01.ipynb", tmp_path / "01.ipynb"
    (job / "in").mkdir(parents=True)
    (job / "out").mkdir()
    submitted.parent.mkdir()
    for path, text in ((submitted, "answer"), (job / "in" / "01.ipynb", "answer"), (template, "tests"),
                       (job / "template.ipynb", "tests")):
        path.write_text(text)
    assert not finished(job, submitted, template), "no result yet"
    (job / "out" / "scores.json").write_text("{}")
    assert finished(job, submitted, template)
    submitted.write_text("answer, resubmitted")
    assert not finished(job, submitted, template)
    submitted.write_text("answer")
    template.write_text("tests, fixed")
    assert not finished(job, submitted, template)


def test_each_job_trains_on_its_share_of_the_cores(tmp_path, monkeypatch):
    """The trusted side trains too (course and test cells): with torch's default of every core in every
    job, two parallel jobs on 2 cores took 4.6x longer than with one thread each."""
    from grading import coordinator, run_one

    seen = []

    def grade(job):
        seen.append(torch.get_num_threads())
        return {}

    monkeypatch.setattr(run_one, "grade", grade)
    monkeypatch.setattr(coordinator, "save_results", lambda *args: None)
    (tmp_path / "job.json").write_text(json.dumps({"threads": 1, "job_timeout": 60, "notebook": "nb"}))
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
        assert coordinator.run_job(tmp_path) == 0
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")  # a Slurm task gets its allocation
        assert coordinator.run_job(tmp_path) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 3]
