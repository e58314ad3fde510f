"""Hostile and faulty submissions of 01-l1-unstructured, each with the exact scores it must get.

Each entry replaces answer cells (by grade_id) of the solution; the rest is answered correctly.
``__COURSE_ROOT__`` stands for the course root. ``expected`` is ``{exercise: points}``: 01 has
ex1 (2 points), ex2 (3), ex3 (3). ``tampering`` lists the exercises whose feedback must say
"tampering detected".
"""

ASSIGNMENT = "01-l1-unstructured"
FULL = {"ex1": 2.0, "ex2": 3.0, "ex3": 3.0}

SPARSITY = "def sparsity(tensor):\n    return (tensor == 0).sum().item() / tensor.numel()\n"
WRONG_SPARSITY = "def sparsity(tensor):\n    return 0.5\n"

HOSTILE = [
    # The two-line cheat: patch the library function the hidden tests compare with.
    dict(name="patches-isclose", expected={**FULL, "ex1": 0.0}, tampering=["ex1"], answers={
        "ex1-sparsity": "import math\nmath.isclose = lambda *args, **kwargs: True\n" + WRONG_SPARSITY}),
    # An IPython input transformer that rewrites every later cell, the hidden tests included.
    dict(name="input-transformer", expected={**FULL, "ex1": 0.0}, tampering=["ex1"], answers={
        "ex1-sparsity": WRONG_SPARSITY + (
            "def _neuter(lines):\n"
            "    return [line.replace('assert ', 'assert True or ') for line in lines]\n"
            "get_ipython().input_transformers_post.append(_neuter)\n")}),
    # Reaches into the calling test's frame to overwrite its expected value (ex1), and returns an
    # int that says it equals anything (ex2).
    dict(name="frame-and-liar", expected={**FULL, "ex1": 0.0, "ex2": 0.0}, tampering=["ex1", "ex2"], answers={
        "ex1-sparsity": ("import sys\n"
                         "def sparsity(tensor):\n"
                         "    sys._getframe(1).f_globals['expected'] = 0.5\n"
                         "    return 0.5\n"),
        "ex2-num-to-prune": ("class Count(int):\n"
                             "    def __eq__(self, other):\n"
                             "        return True\n"
                             "    __hash__ = int.__hash__\n"
                             "def num_to_prune(num_weights, amount):\n"
                             "    return Count(0)\n")}),
    # Rebinds the test's variables through the function's own globals (no frames needed): the
    # hidden test still sees its own `expected`, so the wrong answer fails like any wrong answer.
    dict(name="rebinds-globals", expected={**FULL, "ex2": 0.0}, tampering=[], answers={
        "ex2-num-to-prune": ("def num_to_prune(num_weights, amount):\n"
                             "    globals()['expected'] = 7\n"
                             "    return 7\n")}),
    # Tries to leave the sandbox: the course root, the gradebook, the solutions, the network.
    # Every answer is right, so it must get full marks, and nothing outside may change.
    dict(name="escape", expected=FULL, tampering=[], answers={"ex1-sparsity": SPARSITY + """
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
"""}),
    # Forges the grader's results (files where a worker might write them) and tries to kill the
    # grader that runs the kernel, with a wrong answer: the kill is refused and noted.
    dict(name="forges-results", expected={**FULL, "ex1": 0.0}, tampering=["ex1"], answers={
        "ex1-sparsity": WRONG_SPARSITY + """
import json, os, signal
fake = json.dumps({"score": 8, "max_score": 8, "cells": {}})
for path in ("/job/out/scores.json", "/tmp/out/scores.json", "/job/scores.json"):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write(fake)
    except OSError as err:
        print(path, "failed:", type(err).__name__)
try:
    os.kill(os.getppid(), signal.SIGKILL)
except PermissionError as err:
    print("kill refused:", err)
"""}),
    # The kernel dies in exercise 3: exercises 1 and 2 keep their points.
    dict(name="kernel-dies", expected={**FULL, "ex3": 0.0}, tampering=[], answers={
        "ex3-prune-smallest": "import os\nos._exit(1)\n"}),
    # An infinite loop that ignores interrupts (exercise 2), stopped by the cell time limit.
    dict(name="hangs", expected={**FULL, "ex2": 0.0}, tampering=[], answers={
        "ex2-num-to-prune": ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                             "while True:\n    pass\n")}),
    # Out of memory when called (ex1), sys.exit when called (ex2), exit() that stops the kernel (ex3).
    dict(name="oom-exit", expected={"ex1": 0.0, "ex2": 0.0, "ex3": 0.0}, tampering=[], answers={
        "ex1-sparsity": "def sparsity(tensor):\n    return len(bytearray(64 * 2**30))\n",
        "ex2-num-to-prune": "import sys\ndef num_to_prune(num_weights, amount):\n    sys.exit(3)\n",
        "ex3-prune-smallest": "exit()\n"}),
    # Right answers that write warnings to stderr (ex1 itself, ex3 through a library warning).
    dict(name="warns", expected=FULL, tampering=[], answers={
        "ex1-sparsity": ("import sys, warnings\n"
                         "def sparsity(tensor):\n"
                         "    warnings.warn('counting zeros')\n"
                         "    print('a note on stderr', file=sys.stderr)\n"
                         "    return (tensor == 0).sum().item() / tensor.numel()\n"),
        "ex3-prune-smallest": ("import warnings\n"
                               "def prune_smallest(layer, amount):\n"
                               "    warnings.warn('pruning in place', DeprecationWarning)\n"
                               "    warnings.warn('pruning in place', UserWarning)\n"
                               "    prune.l1_unstructured(layer, name='weight', amount=amount)\n"
                               "    return layer\n")}),
]
