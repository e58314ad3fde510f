"""Messages over one socket between the trusted side and the learner's sandbox: an 8-byte length,
then that many bytes (a ``torch.save`` document, see :mod:`grading.codec`)."""

from __future__ import annotations

import select
import socket
import struct
import time

HEADER = struct.Struct("!Q")
MAX_MESSAGE = 1 << 30  # 1 GiB: a larger message from the sandbox is refused


class Closed(EOFError):
    """The other end closed the connection (the sandbox died or was stopped)."""


class TimedOut(TimeoutError):
    """No message within the time allowed."""


def send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(HEADER.pack(len(payload)) + payload)


def _read(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([sock], [], [], wait)[0]:
                raise TimedOut("no answer in time")
        chunk = sock.recv(min(left, 1 << 22))
        if not chunk:
            raise Closed("the connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket, deadline: float | None = None, limit: int = MAX_MESSAGE) -> bytes:
    """One message; :class:`TimedOut` after ``deadline`` (``time.monotonic()``), :class:`Closed` at EOF."""
    (size,) = HEADER.unpack(_read(sock, HEADER.size, deadline))
    if size > limit:
        raise Closed(f"a message of {size:,} bytes is over the limit of {limit:,}")
    return _read(sock, size, deadline)
