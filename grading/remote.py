"""The trusted side's view of the learner's sandbox: start it, run a cell there, call a function
there, and stop it. Everything that comes back is decoded by :mod:`grading.codec` (data only)."""

from __future__ import annotations

import builtins
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import codec, wire

# Exceptions a learner's function may raise that the tests can catch by their own class.
EXCEPTIONS = {
    name: cls for name, cls in vars(builtins).items() if isinstance(cls, type) and issubclass(cls, Exception)
}


class LearnerDied(RuntimeError):
    """The sandbox ended (the kernel died, ran out of memory, or exited)."""


class LearnerTimedOut(TimeoutError):
    """The sandbox did not answer within the time allowed; it has been stopped."""


class LearnerError(RuntimeError):
    """A learner's function raised an exception the grader does not map to a built-in class."""


@dataclass
class Sandbox:
    """One learner process: ``start()`` returns the process and the socket to it."""

    start: Callable[[], tuple[subprocess.Popen, socket.socket]]
    process: subprocess.Popen | None = None
    sock: socket.socket | None = None
    handles: dict[int, object] = field(default_factory=dict)  # trusted callables the learner may call
    quiet: bool = False  # during hidden tests: the learner's printed output is dropped
    deadline: float = 0.0  # time.monotonic() by which the current cell must end
    printed: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)  # tracebacks of the learner's exceptions

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> None:
        if not self.alive:
            self.stop()
            self.process, self.sock = self.start()

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
        self.process = self.sock = None

    def _send(self, message: dict) -> None:
        try:
            wire.send(self.sock, codec.dumps(message))
        except OSError as err:
            self.stop()
            raise LearnerDied("the learner's process ended") from err

    def _receive(self, deadline: float) -> dict:
        try:
            return codec.loads_data(wire.receive(self.sock, deadline))
        except wire.TimedOut:
            self.stop()
            raise LearnerTimedOut("no answer in time") from None
        except (wire.Closed, OSError) as err:
            self.stop()
            raise LearnerDied("the learner's process ended") from err
        except Exception as err:  # noqa: BLE001 -- undecodable: the sandbox is not speaking the protocol
            self.stop()
            raise LearnerDied(
                f"the learner's process sent something that is not data ({type(err).__name__})"
            ) from err

    def run(self, source: str, seconds: float) -> dict:
        """Execute one cell in the sandbox: ``{"outputs": [...], "error": None or {...}}``."""
        self.ensure()
        self._send({"op": "run", "source": source})
        answer = self._receive(time.monotonic() + seconds)
        if not isinstance(answer, dict) or answer.get("op") != "ran":
            self.stop()
            raise LearnerDied("the learner's process answered out of turn")
        return answer

    def kinds(self, names: list[str], seconds: float = 30) -> dict[str, str]:
        self.ensure()
        self._send({"op": "kinds", "names": names})
        answer = self._receive(time.monotonic() + seconds)
        kinds = answer.get("kinds") if isinstance(answer, dict) else None
        return {n: kinds.get(n, "missing") for n in names} if isinstance(kinds, dict) else {}

    def call(self, target: tuple, args: tuple, kwargs: dict, deadline: float):
        """Call a learner function with trusted inputs; apply what it did to them; return its result."""
        if not self.alive:
            raise LearnerDied("the learner's process is not running (it ended earlier)")
        encoder = codec.Encoder(own_tokens=True, fallback=self._fallback)
        self._send({"op": "call", "target": target, **encoder.message((args, kwargs))})
        while True:
            answer = self._receive(deadline)
            if not isinstance(answer, dict):
                raise LearnerDied("the learner's process answered out of turn")
            if answer.get("op") == "callback":
                self._serve_callback(answer, encoder, deadline)
                continue
            break
        for key in ("stdout", "stderr"):
            if isinstance(answer.get(key), str) and answer[key] and not self.quiet:
                self.printed.append(answer[key])
        result = None
        if isinstance(answer.get("data"), dict):
            decoder = codec.Decoder(
                storages=answer["data"].get("storages", {}),
                objects=encoder.objects,
                remote=self._remote,
                local=self._local,
            )
            result, _, _ = decoder.decode(answer["data"]["body"])
        if answer.get("op") == "raise":
            name, message = str(answer.get("type")), str(answer.get("message"))
            if isinstance(answer.get("trace"), str):  # for the instructor's log, never the feedback
                self.traces.append(answer["trace"])
            cls = EXCEPTIONS.get(name)
            if cls is None or name in ("SystemExit", "KeyboardInterrupt"):
                raise LearnerError(f"{name}: {message}")
            raise cls(message)
        if answer.get("op") != "return":
            raise LearnerDied("the learner's process answered out of turn")
        return result

    def _fallback(self, value) -> dict:
        if isinstance(value, RemoteFunction):
            return (
                {"@": "home", "h": value.target[1]}
                if value.target[0] == "handle"
                else {"@": "opaque", "type": "function"}
            )
        if callable(value):
            self.handles[id(value)] = value
            return {"@": "handle", "h": id(value)}
        import pickle

        try:
            return {"@": "pickle", "data": pickle.dumps(value)}
        except Exception:  # noqa: BLE001
            return {"@": "opaque", "type": codec.qualified(value)}

    def _local(self, desc: dict):
        """A trusted callable the learner's side was given, coming back (e.g. a ModelPruning amount)."""
        return self.handles.get(desc.get("h"), codec.Opaque("expired function"))

    def _remote(self, desc: dict) -> RemoteFunction:
        return RemoteFunction(self, ("handle", desc.get("h")), str(desc.get("name", "function")))

    def _serve_callback(self, request: dict, encoder: codec.Encoder, deadline: float) -> None:
        """The learner's code called a trusted callable (one the test passed in): run it on data."""
        try:
            function = self.handles[request["h"]]
            decoder = codec.Decoder(
                storages=request["data"].get("storages", {}),
                objects=encoder.objects,
                remote=self._remote,
                local=self._local,
            )
            args, kwargs = decoder.decode(request["data"]["body"])
            result = function(*args, **kwargs)
            reply = codec.Encoder(own_tokens=True, fallback=self._fallback)
            self._send({"op": "callback_return", "data": reply.message(result)})
        except (LearnerDied, LearnerTimedOut):
            raise
        except Exception as err:  # noqa: BLE001 -- reported to the learner's side as its exception
            self._send({"op": "callback_raise", "message": f"{type(err).__name__}: {err}"})


class RemoteFunction:
    """A learner's function (or other callable), seen from the trusted side."""

    def __init__(self, sandbox: Sandbox, target: tuple, name: str):
        self.sandbox, self.target, self.__name__ = sandbox, target, name

    def __call__(self, *args, **kwargs):
        return self.sandbox.call(self.target, args, kwargs, self.sandbox.deadline)

    def __repr__(self) -> str:
        return f"<the submission's {self.__name__}>"
