"""Bytes handed from one thread to another in whole pieces, without a pipe: no copy, no system call per piece.

A vault's tar is written by one thread and encrypted by another; an OS pipe (64 KiB on Linux) made the two
take turns, each waiting for the other through the kernel. Here up to DEPTH pieces wait, handed over as
the same bytes objects; either side may stop: the writer by `close` (the reader then meets the end), the
reader by `abandon` (the writer's next write raises BrokenPipeError, as a closed pipe's would).
"""

from __future__ import annotations

import threading
from collections import deque

DEPTH = 8
"""Pieces waiting at most (the tar writer's are about 1 MiB): room to go on while the other side is held up."""


class ByteQueue:
    """A one-way stream between two threads: `write` on one, `read` on the other; bounded memory."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._ready = threading.Condition()
        self._pieces: deque[bytes] = deque()
        self._depth = depth
        self._ended = False
        self._abandoned = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue the bytes (waiting while DEPTH pieces are unread); BrokenPipeError once the reader has gone."""
        if not data:
            return 0
        piece = bytes(data)  # the same object for bytes; a copy of a buffer the caller may reuse
        with self._ready:
            while len(self._pieces) >= self._depth and not self._abandoned:
                self._ready.wait()
            if self._abandoned:
                raise BrokenPipeError("the reading side stopped")
            self._pieces.append(piece)
            self._ready.notify_all()
        return len(piece)

    def narrow(self, depth: int) -> None:
        """Let at most `depth` pieces wait from now on (the writer waits until the reader is below it)."""
        with self._ready:
            self._depth = min(self._depth, depth)
            self._ready.notify_all()

    def close(self) -> None:
        """The writer is done: the reader gets b"" once it has read every piece."""
        with self._ready:
            self._ended = True
            self._ready.notify_all()

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of the oldest piece (all of it for size < 0), waiting for one; b"" only at the end."""
        with self._ready:
            while not self._pieces and not self._ended and not self._abandoned:
                self._ready.wait()
            if not self._pieces:
                return b""
            piece = self._pieces[0]
            if 0 <= size < len(piece):
                self._pieces[0] = piece[size:]
                return piece[:size]
            self._pieces.popleft()
            self._ready.notify_all()
            return piece

    def abandon(self) -> None:
        """The reader stops: what waits is dropped, and a writer waiting or writing later gets BrokenPipeError."""
        with self._ready:
            self._abandoned = True
            self._pieces.clear()
            self._ready.notify_all()
