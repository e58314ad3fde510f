"""Run a submission cell by cell with nbclient, the guard checking after every cell.

A cell that kills the kernel (``os._exit``, an out-of-memory kill, ``exit()``), runs past its time
limit, or tampers with what the tests rely on is recorded as a *problem* and left out; a fresh
kernel then replays the cells before it (their outputs from the first run are kept) and grading
goes on. So a fault in exercise k costs exercise k, and the other exercises are still graded.
"""

from __future__ import annotations

import ast
import copy
import json
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from ipykernel.compiler import get_tmp_hash_seed, murmur2_x86
from IPython.core.inputtransformer2 import TransformerManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

GRADING_ROOT = Path(__file__).resolve().parents[1]
CHECK_TIMEOUT = 60  # seconds for the guard's own calls (a snapshot takes well under one)


class Tampering(Exception):
    """The guard found that a cell changed what the hidden tests rely on."""


@dataclass
class Plan:
    """What the executor needs to know about a notebook's cells."""

    tests: dict[int, str]  # code cell index -> grade_id of a graded (hidden) test cell
    course_names: dict[str, list]  # name -> [module, attribute or None], from the course's imports
    problems: dict[int, str] = field(default_factory=dict)  # cell index -> what went wrong


def parse_cell(source: str) -> ast.Module:
    """A cell's code as Python, IPython syntax (``%pip``, ``!ls``) translated; empty if invalid."""
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def code_names(source: str) -> list[str]:
    """The names a cell's code reads (``sparsity``, ``torch``, ...)."""
    tree = parse_cell(source)
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)})


def course_imports(sources: list[str]) -> dict[str, list]:
    """``{name: [module, attribute]}`` for the top-level imports of the course's own cells."""
    names: dict[str, list] = {}
    for source in sources:
        for node in parse_cell(source).body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = [alias.name if alias.asname
                                                                       else alias.name.split(".")[0], None]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    names[alias.asname or alias.name] = [node.module, alias.name]
    return names


class Session:
    """One kernel: started, guarded, and checked after each cell."""

    def __init__(self, nb: nbformat.NotebookNode, plan: Plan, cwd: Path, timeout: int):
        self.client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     interrupt_on_timeout=False, record_timing=False,
                                     resources={"metadata": {"path": str(cwd)}})
        self.plan = plan
        self.nb = nb

    def call(self, expression: str) -> str:
        """Evaluate ``expression`` silently in the kernel and return its text; DeadKernelError if it died."""
        kc = self.client.kc
        msg_id = kc.execute("", silent=True, store_history=False, user_expressions={"r": expression})
        deadline = time.monotonic() + CHECK_TIMEOUT
        while time.monotonic() < deadline:
            if not run_sync(kc.is_alive)():
                raise DeadKernelError("the kernel died")
            try:
                reply = run_sync(kc.get_shell_msg)(timeout=1)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                result = reply["content"].get("user_expressions", {}).get("r", {})
                if result.get("status") != "ok":
                    raise Tampering(f"the grader's check could not run ({result.get('ename')}: "
                                    f"{result.get('evalue')})")
                return ast.literal_eval(result["data"]["text/plain"])
        raise DeadKernelError(f"the kernel did not answer within {CHECK_TIMEOUT} s")

    def install_guard(self) -> None:
        seed = get_tmp_hash_seed()
        trusted = [f"{murmur2_x86(self.nb.cells[i].source, seed)}.py" for i in self.plan.tests]
        self.call(f"__import__('sys').path.insert(0, {str(GRADING_ROOT)!r}) or "
                  f"__import__('grading.guard').guard.install({self.plan.course_names!r}, {trusted!r})")

    def check(self) -> None:
        """Raise :class:`Tampering` when the guard reports anything."""
        found = json.loads(self.call("__import__('_grading_guard').report()"))
        if found:
            raise Tampering("; ".join(dict.fromkeys(found)))

    def run(self, index: int, cell: nbformat.NotebookNode) -> None:
        """Execute one code cell (a hidden test with the learner's functions checked), then check."""
        if index in self.plan.tests:
            self.call(f"__import__('_grading_guard').begin_test({code_names(cell.source)!r})")
        self.client.execute_cell(cell, index)
        if index in self.plan.tests:
            self.call("__import__('_grading_guard').end_test()")
        self.check()


def problem_output(kind: str, message: str) -> nbformat.NotebookNode:
    """An error output that the scored notebook and the feedback show in the cell."""
    return nbformat.v4.new_output("error", ename=kind, evalue=message, traceback=[f"{kind}: {message}"])


def execute(nb: nbformat.NotebookNode, plan: Plan, cwd: Path, timeout: int, env: dict[str, str]) -> Plan:
    """Run every code cell of ``nb`` in place; return ``plan`` with the cells that failed as problems."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    done: set[int] = set()
    for _ in range(len(code) + 1):
        session = Session(nb, plan, cwd, timeout)
        index = -1
        try:
            with session.client.setup_kernel(env=env, cwd=str(cwd)):
                session.install_guard()
                for index in code:
                    if index in plan.problems:
                        continue
                    cell = nb.cells[index] if index not in done else _fresh(nb.cells[index])
                    session.run(index, cell)
                    done.add(index)
                return plan
        except (DeadKernelError, CellTimeoutError, Tampering) as err:
            if index < 0:
                raise RuntimeError(f"the grading kernel could not start: {err}") from err
            _record(nb, plan, index, err, timeout)
            done.add(index)
    raise RuntimeError("grading gave up: every cell failed")


def _fresh(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    replay = copy.deepcopy(cell)
    replay.outputs = []
    return replay


def _record(nb: nbformat.NotebookNode, plan: Plan, index: int, err: Exception, timeout: int) -> None:
    """Note why cell ``index`` is left out from now on, in the plan and in the cell's outputs."""
    if isinstance(err, Tampering):
        kind, message = "TamperingDetected", f"tampering detected: {err}"
    elif isinstance(err, CellTimeoutError):
        kind, message = "CellTimeout", f"the cell ran longer than {timeout} s and was stopped"
    else:
        kind, message = "KernelDied", "the kernel died while running this cell; grading went on"
    plan.problems[index] = message
    nb.cells[index].outputs.append(problem_output(kind, message))
