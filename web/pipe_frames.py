"""Length-prefixed messages over a non-blocking pipe, read and written in pieces (pure logic).

The API process talks to each validation worker (``web.validation_pool``) over a pipe the
event loop watches. uvloop makes a watched file descriptor non-blocking, and a verdict (a
pickled document) can be larger than the pipe holds: it arrives in pieces, and a piece must
wait for the next rather than block the loop. The framing is ``multiprocessing.connection``'s
(a signed 4-byte big-endian length, then the bytes), so that the worker reads and writes with
``Connection.recv_bytes``/``send_bytes``, which block in the worker, where that is harmless.
"""

from __future__ import annotations

import struct
from typing import Final

_LENGTH: Final = struct.Struct("!i")


def framed(message: bytes) -> bytes:
    """``message`` as one frame ``Connection.recv_bytes`` reads whole."""
    if len(message) > 0x7FFFFFFF:
        raise ValueError("a message of 2 GiB or more")
    return _LENGTH.pack(len(message)) + message


class Frames:
    """The messages in a stream of bytes fed as it arrives, each whole once its last byte
    has come."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages ``data`` completes (none while one is still partial)."""
        self._pending += data
        messages = []
        while len(self._pending) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._pending)
            if size < 0:  # Connection's header for 2 GiB or more: never sent by a worker
                raise ValueError("a frame of 2 GiB or more")
            end = _LENGTH.size + size
            if len(self._pending) < end:
                break
            messages.append(bytes(self._pending[_LENGTH.size : end]))
            del self._pending[:end]
        return messages
