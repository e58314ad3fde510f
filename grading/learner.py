"""The learner's side: runs inside the sandbox, executes the submission's cells and calls its
functions when the trusted side asks, and answers with data only (see :mod:`grading.codec`).

    python -m grading.learner FD      # FD: the connected socket to the trusted side

Nothing here is trusted: code in a cell can change any of it. It cannot change a verdict, because
the verdict is reached on the other side of the socket, from what this process sends as data.
The hidden tests never come here; only the inputs they give to the learner's functions do.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import traceback

from . import codec, wire

MAX_TEXT = 20_000  # characters of captured output kept per cell or call


class Remote:
    """A callable of the trusted side (e.g. a test's ``lambda``): calling it asks the trusted side."""

    def __init__(self, server: Server, handle: int):
        self.server, self.handle = server, handle

    def __call__(self, *args, **kwargs):
        return self.server.callback(self.handle, args, kwargs)


class Server:
    def __init__(self, sock: socket.socket):
        from IPython.core.interactiveshell import InteractiveShell

        self.sock = sock
        self.shell = InteractiveShell.instance(colors="NoColor")
        self.handles: dict[int, object] = {}

    # Messages ------------------------------------------------------------------------------
    def send(self, message: dict) -> None:
        wire.send(self.sock, codec.dumps(message))

    def receive(self) -> dict:
        return codec.loads_trusted(wire.receive(self.sock))

    def serve(self) -> None:
        while True:
            try:
                message = self.receive()
            except wire.Closed:
                return
            self.dispatch(message)

    def dispatch(self, message: dict) -> None:
        op = message["op"]
        if op == "run":
            self.send(self.run(message["source"]))
        elif op == "call":
            self.send(self.call(message))
        elif op == "kinds":
            ns = self.shell.user_ns
            self.send(
                {
                    "op": "kinds",
                    "kinds": {
                        n: ("missing" if n not in ns else "callable" if callable(ns[n]) else "value")
                        for n in message["names"]
                    },
                }
            )
        elif op == "stop":
            os._exit(0)
        else:
            self.send({"op": "error", "message": f"unknown request {op!r}"})

    # Cells ---------------------------------------------------------------------------------
    def run(self, source: str) -> dict:
        from IPython.utils.capture import capture_output

        with capture_output(display=True) as captured:
            result = self.shell.run_cell(source, store_history=True)
        outputs = []
        for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                outputs.append({"kind": "stream", "name": name, "text": text[-MAX_TEXT:]})
        for shown in captured.outputs:
            data = {
                k: v for k, v in shown.data.items() if k in ("text/plain", "image/png") and isinstance(v, str)
            }
            if data:
                outputs.append({"kind": "display", "data": data})
        error = result.error_in_exec or result.error_before_exec
        failure = None if error is None else {"ename": type(error).__name__, "evalue": str(error)[:MAX_TEXT]}
        return {"op": "ran", "outputs": outputs, "error": failure}

    # Calls ---------------------------------------------------------------------------------
    def decoder(self, message: dict) -> codec.Decoder:
        return codec.Decoder(
            storages=message["storages"],
            trusted=False,
            remote=lambda desc: Remote(self, desc["h"]),
            local=lambda desc: self.handles.get(desc["h"], codec.Opaque("expired function")),
        )

    def encoder(self, decoder: codec.Decoder) -> codec.Encoder:
        tokens = {id(obj): token for token, obj in decoder.by_token.items()}
        return codec.Encoder(
            tokens=tokens,
            storage_tokens=dict(decoder.storage_tokens),
            snapshots=dict(decoder.snapshots),
            handle=self.handle,
        )

    def handle(self, value) -> dict:
        if isinstance(value, Remote):
            return {"@": "home", "h": value.handle}
        key = id(value)
        self.handles[key] = value
        return {"@": "handle", "h": key, "name": getattr(value, "__name__", type(value).__name__)}

    def call(self, message: dict) -> dict:
        decoder = self.decoder(message)
        out, err = io.StringIO(), io.StringIO()
        try:
            args, kwargs = decoder.decode(message["body"])
            target = message["target"]
            if target[0] == "name":
                if target[1] not in self.shell.user_ns:
                    raise NameError(f"name {target[1]!r} is not defined")
                function = self.shell.user_ns[target[1]]
            else:
                function = self.handles[target[1]]
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                result = function(*args, **kwargs)
            status = "return"
        except BaseException as error:  # noqa: BLE001 -- everything is reported as data
            status, result = "raise", error
            args, kwargs = locals().get("args", ()), locals().get("kwargs", {})
        answer = {"op": status, "stdout": out.getvalue()[-MAX_TEXT:], "stderr": err.getvalue()[-MAX_TEXT:]}
        if status == "raise":
            answer.update(
                type=type(result).__name__,
                message=_message(result),
                trace="".join(traceback.format_exception(result))[-MAX_TEXT:],
            )
            result = None
        try:
            answer["data"] = self.encoder(decoder).message((result, args, kwargs))
        except Exception as error:  # noqa: BLE001
            answer = {
                "op": "raise",
                "type": "TypeError",
                "message": f"the result cannot be sent to the grader: {type(error).__name__}: {error}",
                "stdout": answer["stdout"],
                "stderr": answer["stderr"],
            }
        return answer

    def callback(self, handle: int, args: tuple, kwargs: dict):
        """Call a trusted-side callable; serve the trusted side's requests until it answers."""
        encoder = codec.Encoder(handle=self.handle)
        self.send({"op": "callback", "h": handle, "data": encoder.message((args, kwargs))})
        while True:
            message = self.receive()
            if message["op"] == "callback_return":
                decoder = self.decoder(message["data"])
                return decoder.decode(message["data"]["body"])
            if message["op"] == "callback_raise":
                raise RuntimeError(message["message"])
            self.dispatch(message)


def _message(error: BaseException) -> str:
    try:
        return str(error)[:MAX_TEXT]
    except Exception:  # noqa: BLE001 -- str() of a learner's exception may raise
        return f"<{type(error).__name__}>"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(argv[0]))
    os.environ.setdefault("MPLBACKEND", "Agg")
    Server(sock).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
