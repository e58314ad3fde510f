"""Hostile and faulty submissions of 01-l1-unstructured, each with the exact scores it must get.

Each entry replaces answer cells (by grade_id) of the solution; the rest is answered correctly.
``__COURSE_ROOT__`` stands for the course root. ``expected`` is ``{exercise: points}``: 01 has
ex1 (2 points), ex2 (3), ex3 (3). ``flagged`` lists the exercises that screening must flag for
manual grading (flags never change a score). ``extra_cells`` are cells the submission adds, after
the cell with the given grade_id. ``absent`` are strings that must appear in no output the
learner gets back (scored notebook and feedback), ``absent_html`` strings that must not appear
in the feedback page, ``present`` strings that must appear in the scored notebook.
"""

ASSIGNMENT = "01-l1-unstructured"
FULL = {"ex1": 2.0, "ex2": 3.0, "ex3": 3.0}

SPARSITY = "def sparsity(tensor):\n    return (tensor == 0).sum().item() / tensor.numel()\n"
WRONG_SPARSITY = "def sparsity(tensor):\n    return 0.5\n"

HOSTILE = [
    # The two-line cheat: patch the library function the hidden tests compare with.
    dict(
        name="patches-isclose",
        expected={**FULL, "ex1": 0.0},
        flagged=[],
        answers={
            "ex1-sparsity": "import math\nmath.isclose = lambda *args, **kwargs: True\n" + WRONG_SPARSITY
        },
    ),
    # An IPython input transformer that rewrites every later cell, the hidden tests included.
    dict(
        name="input-transformer",
        expected={**FULL, "ex1": 0.0},
        flagged=["ex1"],
        answers={
            "ex1-sparsity": WRONG_SPARSITY
            + (
                "def _neuter(lines):\n"
                "    return [line.replace('assert ', 'assert True or ') for line in lines]\n"
                "get_ipython().input_transformers_post.append(_neuter)\n"
            )
        },
    ),
    # Reaches into the calling test's frame to overwrite its expected value (ex1), and returns an
    # int that says it equals anything (ex2).
    dict(
        name="frame-and-liar",
        expected={**FULL, "ex1": 0.0, "ex2": 0.0},
        flagged=["ex1", "ex2"],
        answers={
            "ex1-sparsity": (
                "import sys\n"
                "def sparsity(tensor):\n"
                "    sys._getframe(1).f_globals['expected'] = 0.5\n"
                "    return 0.5\n"
            ),
            "ex2-num-to-prune": (
                "class Count(int):\n"
                "    def __eq__(self, other):\n"
                "        return True\n"
                "    __hash__ = int.__hash__\n"
                "def num_to_prune(num_weights, amount):\n"
                "    return Count(0)\n"
            ),
        },
    ),
    # Rebinds the test's variables through the function's own globals (no frames needed): the
    # hidden test still sees its own `expected`, so the wrong answer fails like any wrong answer.
    dict(
        name="rebinds-globals",
        expected={**FULL, "ex2": 0.0},
        flagged=["ex2"],
        answers={
            "ex2-num-to-prune": (
                "def num_to_prune(num_weights, amount):\n    globals()['expected'] = 7\n    return 7\n"
            )
        },
    ),
    # Tries to leave the sandbox: the course root, the gradebook, the solutions, the network.
    # Every answer is right, so it must get full marks, and nothing outside may change.
    dict(
        name="escape",
        expected=FULL,
        flagged=["ex1"],
        answers={
            "ex1-sparsity": SPARSITY
            + """
import os, socket, sqlite3
ROOT = "__COURSE_ROOT__"  # the test puts the real course root here
for attempt, action in [
    ("write-root", lambda: open(os.path.join(ROOT, "pwned.txt"), "w").write("x")),
    ("gradebook", lambda: sqlite3.connect(os.path.join(ROOT, "gradebook.db")).execute("CREATE TABLE p (x)")),
    ("network", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3)),
    ("home", lambda: open(os.path.expanduser("~/../pwned.txt"), "w").write("x")),
]:
    try:
        action()
        print(attempt, "SUCCEEDED")
    except Exception as err:
        print(attempt, "failed:", type(err).__name__)
for hidden in ("solutions", "submitted", "gradebook.db", ".grading"):
    print(hidden, "visible:", os.path.exists(os.path.join(ROOT, hidden)))
"""
        },
    ),
    # Forges the grader's results (files where a worker might write them) and tries to kill the
    # grader, with a wrong answer: neither the files nor the signal reach the trusted side.
    dict(
        name="forges-results",
        expected={**FULL, "ex1": 0.0},
        flagged=["ex1"],
        answers={
            "ex1-sparsity": WRONG_SPARSITY
            + """
import json, os, signal
fake = json.dumps({"score": 8, "max_score": 8, "cells": {}})
for path in ("/job/out/scores.json", "/tmp/out/scores.json", "/job/scores.json"):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write(fake)
    except OSError as err:
        print(path, "failed:", type(err).__name__)
for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as err:
        print("kill refused:", type(err).__name__)
"""
        },
    ),
    # The kernel dies in exercise 3: exercises 1 and 2 keep their points.
    dict(
        name="kernel-dies",
        expected={**FULL, "ex3": 0.0},
        flagged=["ex3"],
        answers={"ex3-prune-smallest": "import os\nos._exit(1)\n"},
    ),
    # An infinite loop that ignores interrupts (exercise 2), stopped by the cell time limit.
    dict(
        name="hangs",
        expected={**FULL, "ex2": 0.0},
        flagged=["ex2"],
        answers={
            "ex2-num-to-prune": (
                "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
            )
        },
    ),
    # Out of memory when called (ex1), sys.exit when called (ex2), exit() that stops the kernel (ex3).
    dict(
        name="oom-exit",
        expected={"ex1": 0.0, "ex2": 0.0, "ex3": 0.0},
        flagged=["ex2"],
        answers={
            "ex1-sparsity": "def sparsity(tensor):\n    return len(bytearray(64 * 2**30))\n",
            "ex2-num-to-prune": "import sys\ndef num_to_prune(num_weights, amount):\n    sys.exit(3)\n",
            "ex3-prune-smallest": "exit()\n",
        },
    ),
    # Right answers that write warnings to stderr (ex1 itself, ex3 through a library warning).
    dict(
        name="warns",
        expected=FULL,
        flagged=[],
        answers={
            "ex1-sparsity": (
                "import sys, warnings\n"
                "def sparsity(tensor):\n"
                "    warnings.warn('counting zeros')\n"
                "    print('a note on stderr', file=sys.stderr)\n"
                "    return (tensor == 0).sum().item() / tensor.numel()\n"
            ),
            "ex3-prune-smallest": (
                "import warnings\n"
                "def prune_smallest(layer, amount):\n"
                "    warnings.warn('pruning in place', DeprecationWarning)\n"
                "    warnings.warn('pruning in place', UserWarning)\n"
                "    prune.l1_unstructured(layer, name='weight', amount=amount)\n"
                "    return layer\n"
            ),
        },
    ),
    # The result path: every file descriptor of every process it can see, and the sandbox's own
    # environment (the grader's must not be there).
    dict(
        name="proc-forgery",
        expected={**FULL, "ex1": 0.0},
        flagged=["ex1"],
        absent=["GRADING_TEST_SECRET"],
        present=["proc scan done"],
        answers={
            "ex1-sparsity": WRONG_SPARSITY
            + """
import json, os
fake = json.dumps({"score": 8, "max_score": 8, "cells": {}}).encode()
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for fd in os.listdir(f"/proc/{pid}/fd") if os.access(f"/proc/{pid}/fd", os.R_OK) else []:
            try:
                with open(f"/proc/{pid}/fd/{fd}", "wb") as handle:
                    handle.write(fake)
            except OSError:
                pass
for path in ("/proc/1/environ", "/proc/self/environ"):
    try:
        print(path, open(path, "rb").read().replace(b"\\0", b" ")[:400])
    except OSError as err:
        print(path, "unreadable:", type(err).__name__)
print(sorted(os.environ))
print("proc scan done")
"""
        },
    ),
    # Shadows builtins (ones its own right answers do not use) and the import machinery in the
    # notebook's namespace: the tests do not run there.
    dict(
        name="shadows-builtins",
        expected={**FULL, "ex1": 0.0},
        flagged=["ex1"],
        answers={
            "ex1-sparsity": WRONG_SPARSITY
            + (
                "len = abs = lambda *args, **kwargs: 0\n"
                "AssertionError = ZeroDivisionError\n"
                "__import__ = lambda *args, **kwargs: None\n"
            )
        },
    ),
    # C-level state: a torch function mode left entered (every torch.equal is True), a global
    # module forward hook, and an object that patches itself back in when collected.
    dict(
        name="torch-mode",
        expected={**FULL, "ex3": 0.0},
        flagged=["ex3"],
        answers={
            "ex3-prune-smallest": (
                "import torch\n"
                "from torch.overrides import TorchFunctionMode\n"
                "class AllEqual(TorchFunctionMode):\n"
                "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
                "        if func is torch.equal:\n"
                "            return True\n"
                "        return func(*args, **(kwargs or {}))\n"
                "AllEqual().__enter__()\n"
                "torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o)\n"
                "def prune_smallest(layer, amount):\n"
                "    return layer\n"
            )
        },
    ),
    # Scoring from outputs and metadata: a forged pass line, a displayhook call, a cell that
    # claims 50 points, and a copy of a test cell reduced to `assert True`.
    dict(
        name="forged-outputs",
        expected={**FULL, "ex1": 0.0},
        flagged=["ex1"],
        answers={
            "ex1-sparsity": (
                "import sys\n"
                "def sparsity(tensor):\n"
                "    sys.displayhook('Exercise 1: the visible checks pass.')\n"
                "    print('Exercise 1: the visible checks pass.')\n"
                "    return 0.5\n"
            )
        },
        extra_cells=[
            ("ex1-sparsity", dict(source="assert True", grade_id="ex9-bonus", points=50)),
            ("ex1-sparsity", dict(source="assert True", grade_id="ex1-sparsity-tests", points=2)),
        ],
    ),
    # The tests' data: the namespace has no expected values, the sandbox no hidden tests, and the
    # feedback shows none.
    dict(
        name="reads-namespace",
        expected={**FULL, "ex2": 0.0},
        flagged=["ex2"],
        present=["searched"],
        answers={
            "ex2-num-to-prune": """
import os
def num_to_prune(num_weights, amount):
    return get_ipython().user_ns.get("expected", 0)
found = []
for top in ("/job", "/tmp", "/data", "/"):
    for folder, _, files in os.walk(top):
        if folder.startswith(("/proc", "/sys", "/usr", "/dev")):
            continue
        for name in files:
            try:
                if "BEGIN HIDDEN " + "TESTS" in open(os.path.join(folder, name), errors="ignore").read(10**5):
                    found.append(os.path.join(folder, name))
            except OSError:
                pass
print("searched; hidden tests found in:", found)
"""
        },
    ),
    # Records the inputs of the hidden checks of exercise 1 and prints them in a later cell:
    # outputs after hidden checks are withheld, so the inputs do not reach the learner.
    dict(
        name="leaks-hidden-inputs",
        expected=FULL,
        flagged=[],
        absent=["torch.Size([7, 11])", "(7, 11)"],
        answers={
            "ex1-sparsity": (
                "SEEN = []\n"
                "def sparsity(tensor):\n"
                "    SEEN.append(tuple(tensor.shape))\n"
                "    return (tensor == 0).sum().item() / tensor.numel()\n"
            ),
            "ex2-num-to-prune": (
                "print('inputs seen:', SEEN)\n"
                "def num_to_prune(num_weights, amount):\n"
                "    return amount if isinstance(amount, int) else round(amount * num_weights)\n"
            ),
        },
    ),
    # Resources: three processes of 3 GiB, a full /tmp and a full cache; the sandbox's memory is
    # bounded as a whole, its tmpfs sizes too, and the right answers keep their points.
    dict(
        name="resource-hog",
        expected={**FULL, "ex1": 0.0},
        flagged=["ex1"],
        present=["tmp full", "cache full"],
        answers={
            "ex1-sparsity": WRONG_SPARSITY
            + """
import os, subprocess, sys
for folder, label in (("/tmp", "tmp full"), (os.environ.get("PRUNING_CACHE_DIR", "/tmp"), "cache full")):
    try:
        for k in range(16):
            with open(os.path.join(folder, f"fill-{k}.bin"), "wb") as handle:
                handle.write(b"x" * (200 * 2**20))
    except OSError as err:
        print(label, type(err).__name__)
hogs = [subprocess.Popen([sys.executable, "-c", "x = bytearray(3 * 2**30); import time; time.sleep(30)"])
        for _ in range(3)]
print("hog exit codes:", [hog.wait() for hog in hogs])
"""
        },
    ),
    # A cell of no exercise that hangs (ignoring interrupts): it costs the next exercise once, and
    # is not replayed.
    dict(
        name="free-cell-hangs",
        expected={**FULL, "ex2": 0.0},
        flagged=["ex2"],
        answers={},
        extra_cells=[
            (
                "ex1-sparsity",
                dict(
                    source=(
                        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
                    )
                ),
            )
        ],
    ),
    # HTML and script in outputs and in a written cell: escaped or removed in the feedback.
    dict(
        name="script-in-output",
        expected=FULL,
        flagged=[],
        absent_html=["<script>alert"],
        answers={
            "ex1-sparsity": (
                SPARSITY + "from IPython.display import HTML, display\n"
                "display(HTML('<script>alert(1)</script><b>bold</b>'))\n"
                "print('<script>alert(2)</script>')\n"
            )
        },
        extra_cells=[("ex1-sparsity", dict(source="<script>alert(3)</script>", markdown=True))],
    ),
]
