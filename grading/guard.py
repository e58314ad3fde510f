"""Kernel-side integrity guard: loaded into each grading kernel before any notebook cell runs.

It captures, before learner code can run, the objects a hidden test relies on (the modules and
classes it compares with, builtins, IPython's input transformers, AST transformers, event callbacks,
display and exception hooks, sys hooks, the import machinery), and answers one question after every
cell: is any of it different now? It also

- installs an audit hook (which Python cannot remove) that records frame inspection, ``gc``
  referrer walks, ``ctypes``, tracing, code swaps, threads and processes started by notebook code;
- during a test cell, calls the learner's functions with a copy of the notebook's globals, so they
  cannot read or rebind the test's own variables, and checks what they return (and the arguments
  they were given) for objects of notebook-made classes that override comparison, conversion or
  type checks.

The worker (``grading.execute``) reads :func:`report` after every cell and scores an exercise 0 with
"tampering detected: ..." when it is not empty. Everything here runs inside the learner's process,
so it raises the bar rather than proving a negative: see README, "For instructors".
"""

from __future__ import annotations

import builtins
import functools
import gc
import importlib
import json
import os
import signal
import sys
import threading
import types

SNAPSHOT_MODULES = (
    "builtins", "math", "operator", "copy", "functools", "inspect", "numpy", "torch", "torch.nn",
    "torch.nn.functional", "torch.nn.utils.prune", "torch.nn.modules.module", "torch.nn.parameter",
    "torch.testing", "lightning", "helpers.data", "helpers.models", "helpers.pruning",
    "helpers.training", "helpers.plots", "IPython.core.interactiveshell", "ipykernel.ipkernel",
    "ipykernel.zmqshell", "ipykernel.kernelbase",
)
# Entries that legitimate code changes while a notebook runs (the last result, caches).
VOLATILE = frozenset({"builtins._", "builtins.__", "builtins.___"})
LYING_DUNDERS = frozenset({
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__len__",
    "__float__", "__int__", "__index__", "__complex__", "__round__", "__abs__", "__class__",
    "__getattribute__", "__getattr__", "__instancecheck__", "__subclasscheck__", "__torch_function__",
    "__torch_dispatch__", "__array__", "__array_ufunc__", "__array_function__",
})
LIBRARY_CALLBACKS = frozenset({"matplotlib", "matplotlib_inline", "ipykernel", "IPython", "ipywidgets"})
DATA = (int, float, complex, str, bytes, type(None))
WATCHED_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "__code__", "__globals__"})
WATCHED_EVENTS = frozenset({
    "sys._getframe", "sys._getframemodulename", "gc.get_referrers", "gc.get_referents",
    "gc.get_objects", "sys.settrace", "sys.setprofile", "sys.addaudithook", "object.__getattr__",
    "object.__setattr__",
    # a thread or a process could change things while a test runs and undo it before the check
    "_thread.start_new_thread", "os.fork", "os.forkpty", "os.posix_spawn", "os.system", "os.exec",
    "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill",
})
# Refused outright, not only noted: signals could stop the grader itself.
BLOCKED_EVENTS = frozenset({"os.kill", "os.killpg", "signal.pthread_kill"})

_is = builtins.id  # captured now: learner code may replace builtins later
_getframe = sys._getframe
_isinstance, _type, _vars, _len = builtins.isinstance, builtins.type, builtins.vars, builtins.len


class _Guard:
    """The captured state of one kernel and the notes gathered since the last report."""

    def __init__(self, shell, course_names: dict[str, list], trusted: set[str]):
        self.shell = shell
        self.course_names = course_names
        self.trusted = trusted
        self.notes: list[str] = []
        self.busy = False
        self.wrapped: dict[str, tuple] = {}
        self.baseline = self.capture()

    def capture(self) -> dict[str, object]:
        """Every watched object, by a readable name."""
        state: dict[str, object] = {}
        for name in SNAPSHOT_MODULES:
            module = sys.modules.get(name)
            if module is not None:
                state[f"sys.modules[{name!r}]"] = module
                _add_namespace(state, name, _vars(module))
        for cls in _classes(SNAPSHOT_MODULES):
            _add_namespace(state, f"{cls.__module__}.{cls.__qualname__}", dict(_vars(cls)))
        state.update(_hooks(self.shell))
        return state

    def changed(self) -> list[str]:
        """Names of watched objects that are not what they were when the kernel started."""
        now = self.capture()
        found = [f"{name} was replaced" for name, value in self.baseline.items()
                 if name not in VOLATILE and not _same(value, now.get(name, _MISSING))]
        return found + self.renamed_course_names()

    def renamed_course_names(self) -> list[str]:
        """Course imports (``torch``, ``nn``, ``prune``, ...) rebound to something else."""
        found = []
        for name, (module, attr) in self.course_names.items():
            if name not in self.shell.user_ns or module not in sys.modules:
                continue
            genuine = sys.modules[module] if attr is None else getattr(sys.modules[module], attr, _MISSING)
            if self.shell.user_ns[name] is not genuine:
                found.append(f"the notebook name `{name}` no longer refers to {module}"
                             + (f".{attr}" if attr else ""))
        return found

    def learner_frame(self, frame) -> str | None:
        """Where notebook code (not a hidden test) is, within three frames of ``frame``."""
        for _ in range(3):
            if frame is None:
                return None
            filename = frame.f_code.co_filename
            if _in_cell(filename) and os.path.basename(filename) not in self.trusted:
                return f"line {frame.f_lineno} of a notebook cell"
            frame = frame.f_back
        return None

    def audit(self, event: str, args: tuple) -> None:
        """Audit hook: note frame, gc, ctypes, tracing and code-swapping calls from notebook code."""
        if self.busy or not (event in WATCHED_EVENTS or event.startswith("ctypes.")):
            return
        if event.startswith("object.") and (_len(args) < 2 or args[1] not in WATCHED_ATTRS):
            return
        self.busy = True
        where = None
        try:
            where = self.learner_frame(_getframe(1))
            if where:
                detail = f" ({args[1]})" if event.startswith("object.") else ""
                self.notes.append(f"{event}{detail} called from {where}")
        finally:
            self.busy = False
        if where and event in BLOCKED_EVENTS:
            raise PermissionError(f"{event} is not allowed while grading")


_MISSING = object()
_GUARD: _Guard | None = None


def _in_cell(filename: str) -> bool:
    """Whether code was written in a notebook cell (ipykernel's cell files, plain IPython's inputs)."""
    return filename.startswith(_cell_dir()) or filename.startswith("<ipython-input-")


@functools.lru_cache(maxsize=1)
def _cell_dir() -> str:
    try:
        from ipykernel.compiler import get_tmp_directory
    except ImportError:  # plain IPython: cells are "<ipython-input-...>"
        return "<ipython-input-"
    return get_tmp_directory() + os.sep


def _same(a: object, b: object) -> bool:
    if _type(a) is tuple and _type(b) is tuple:
        return _len(a) == _len(b) and all(x is y for x, y in zip(a, b, strict=True))
    return a is b


def _add_namespace(state: dict, prefix: str, namespace: dict) -> None:
    """Record each entry (and, for Python functions, its code and defaults) under ``prefix.key``.

    Plain data (numbers, strings) is left out: counters such as ``RemovableHandle.next_id`` change
    legitimately, and a test compares with functions, classes and modules, not with them.
    """
    for key, value in list(namespace.items()):
        if _isinstance(value, DATA):
            continue
        state[f"{prefix}.{key}"] = value
        if _isinstance(value, types.FunctionType):
            state[f"{prefix}.{key}.__code__"] = value.__code__
            state[f"{prefix}.{key}.__defaults__"] = value.__defaults__


def _classes(module_names: tuple[str, ...]) -> list[type]:
    """The classes the snapshot modules define, with their bases (builtins included)."""
    seen: dict[int, type] = {}
    for name in module_names:
        module = sys.modules.get(name)
        for value in list(_vars(module).values()) if module else ():
            if _isinstance(value, type) and str(getattr(value, "__module__", "")).split(".")[0] in (
                    name.split(".")[0], "builtins", "torch"):
                for cls in value.__mro__:
                    seen.setdefault(_is(cls), cls)
    return list(seen.values())


def _hooks(shell) -> dict[str, object]:
    """IPython's and Python's hooks: what rewrites, runs, displays or reports a cell."""
    itm = shell.input_transformer_manager
    state: dict[str, object] = {
        "IPython input_transformers_post": tuple(shell.input_transformers_post),
        "IPython input_transformers_cleanup": tuple(itm.cleanup_transforms),
        "IPython line_transforms": tuple(itm.line_transforms),
        "IPython token_transformers": tuple(itm.token_transformers),
        "IPython ast_transformers": tuple(shell.ast_transformers),
        "IPython displayhook": shell.displayhook, "IPython display_pub": shell.display_pub,
        "IPython display_formatter": shell.display_formatter, "IPython compile": shell.compile,
        "IPython custom_exceptions": shell.custom_exceptions, "IPython CustomTB": shell.CustomTB,
        "IPython InteractiveTB": shell.InteractiveTB, "IPython user_ns": shell.user_ns,
        "sys.displayhook": sys.displayhook, "sys.excepthook": sys.excepthook,
        "sys.unraisablehook": sys.unraisablehook, "sys.gettrace()": sys.gettrace(),
        "sys.getprofile()": sys.getprofile(), "threading trace": threading.gettrace(),
        "threading profile": threading.getprofile(), "sys.meta_path": tuple(sys.meta_path),
        "sys.path_hooks": tuple(sys.path_hooks), "gc.callbacks": tuple(gc.callbacks),
        "builtins module": sys.modules.get("builtins"),
    }
    for event, callbacks in shell.events.callbacks.items():
        state[f"IPython events[{event!r}]"] = tuple(c for c in callbacks if not _library_callback(c))
    for name in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell",
                 "showtraceback", "showsyntaxerror", "_showtraceback", "user_expressions", "ex", "ev"):
        state[f"IPython shell.{name} (instance override)"] = _vars(shell).get(name)
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        for msg_type, handler in kernel.shell_handlers.items():
            state[f"kernel shell_handlers[{msg_type!r}]"] = handler
        for name in ("do_execute", "execute_request"):
            state[f"kernel.{name} (instance override)"] = _vars(kernel).get(name)
    for signum in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF):
        state[f"signal handler {signal.Signals(signum).name}"] = signal.getsignal(signum)
    return state


def _library_callback(callback: object) -> bool:
    """An event callback that a display library registers (matplotlib's figure flush, ...)."""
    function = getattr(callback, "__func__", callback)
    module = str(getattr(function, "__module__", "")).split(".")[0]
    return (_isinstance(function, types.FunctionType) and module in LIBRARY_CALLBACKS
            and not _in_cell(function.__code__.co_filename))


def _notebook_made(cls: type) -> bool:
    """Whether a class was written in a notebook cell (not imported from a library)."""
    if getattr(cls, "__module__", None) == "__main__":
        return True
    return any(_isinstance(v, types.FunctionType) and _in_cell(v.__code__.co_filename)
               for v in _vars(cls).values())


def find_liar(obj: object, depth: int = 0) -> str | None:
    """Describe an object (or a part of it) whose notebook-made class can lie to a test."""
    cls = _type(obj)
    for klass in cls.__mro__:
        if klass is not object and _notebook_made(klass):
            lies = LYING_DUNDERS & set(_vars(klass))
            if lies:
                return (f"a {klass.__name__} (a class made in the notebook that overrides "
                        f"{', '.join(sorted(lies))})")
    if depth >= 3:
        return None
    if cls in (list, tuple, set, frozenset):
        parts = list(obj)[:100]
    elif cls is dict:
        parts = [*list(obj)[:100], *list(obj.values())[:100]]
    elif "torch" in sys.modules and _isinstance(obj, sys.modules["torch"].nn.Module):
        parts = list(_vars(obj).values())
    elif _isinstance(obj, dict):  # OrderedDicts of a module's parameters and buffers
        parts = list(obj.values())[:100]
    else:
        return None
    return next((found for part in parts if (found := find_liar(part, depth + 1))), None)


def _checked(fn: types.FunctionType, name: str, namespace: dict):
    """``fn`` with a copy of the notebook's globals, its results and arguments checked for liars."""
    isolated = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    isolated.__kwdefaults__ = fn.__kwdefaults__

    @functools.wraps(fn)
    def call(*args, **kwargs):
        result = isolated(*args, **kwargs)
        for what, value in (("returned", result), *(("was given", a) for a in (*args, *kwargs.values()))):
            liar = find_liar(value)
            if liar:
                _GUARD.notes.append(f"{name}() {what} {liar}")
        return result

    return call


def begin_test(names: list[str]) -> None:
    """Before a test cell: the learner functions it names run with a copy of the globals, checked."""
    ns = _GUARD.shell.user_ns
    learner = {name: value for name, value in ns.items() if _isinstance(value, types.FunctionType)
               and _in_cell(value.__code__.co_filename)}
    namespace = dict(ns)
    for name, fn in learner.items():
        namespace[name] = _checked(fn, name, namespace)
    _GUARD.wrapped = {name: (learner[name], namespace[name]) for name in names if name in learner}
    for name, (_, wrapper) in _GUARD.wrapped.items():
        ns[name] = wrapper


def end_test() -> None:
    """After a test cell: put the learner's own functions back."""
    ns = _GUARD.shell.user_ns
    for name, (fn, wrapper) in _GUARD.wrapped.items():
        if ns.get(name) is wrapper:
            ns[name] = fn
    _GUARD.wrapped = {}


def report() -> str:
    """JSON list of everything that changed or was noted since the last report (empty: all well)."""
    found = _GUARD.changed() + _GUARD.notes
    _GUARD.notes = []
    return json.dumps(found)


def install(course_names: dict[str, list], trusted: list[str]) -> None:
    """Import the modules tests rely on, capture them, and start auditing (once per kernel)."""
    global _GUARD
    if _GUARD is not None:
        raise RuntimeError("the grading guard is already installed in this kernel")
    for name in SNAPSHOT_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from IPython import get_ipython

    _GUARD = _Guard(get_ipython(), {k: tuple(v) for k, v in course_names.items()}, set(trusted))
    sys.modules["_grading_guard"] = sys.modules[__name__]
    sys.addaudithook(_GUARD.audit)
