"""Counts each table's rows in an archive byte stream as it passes by, in a helper thread.

Used while a backup streams into pg_restore, so the restored copy can be checked table by table
without decrypting the backup a second time; the same thread passes the archive on to pg_restore,
with pg_dump -Z0's one-row chunks joined into large ones.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from recovery_console.engine.archive import pgarchive
from recovery_console.errors import IntegrityError, RecoveryError, from_os_error

HANDOFF_PIECE = 1 << 20
HANDOFF_DEPTH = 2


class _Prefixed:
    """A read-only stream: some bytes already read, then the rest of a file."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            n = len(self._prefix) if size < 0 else min(size, len(self._prefix))
            data, self._prefix = bytes(self._prefix[:n]), self._prefix[n:]
            return data
        return self._rest.read(size)

    def readinto(self, buf: memoryview | bytearray) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _Recording:
    """Remembers every byte read, so the data after the TOC can be replayed."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self.seen = bytearray()

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data = self._fp.read(size)
        self.seen += data
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class Handoff:
    """Bytes written on one thread, read as a stream on another, without a round trip through the kernel.

    `write` blocks while DEPTH pieces of at most PIECE bytes wait unread, so memory stays bounded;
    `read` returns what the oldest piece still holds (at least one byte until the end), like a pipe.
    """

    def __init__(self, piece: int = HANDOFF_PIECE, depth: int = HANDOFF_DEPTH) -> None:
        self._piece = piece
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._block = b""
        self._offset = 0
        self._ended = False
        self.closed = False

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes | memoryview) -> int:
        if isinstance(data, bytes) and len(data) <= self._piece:
            self._queue.put(data)
        else:
            view = memoryview(data)
            for start in range(0, len(view), self._piece):
                self._queue.put(bytes(view[start:start + self._piece]))
        return len(data)

    def close(self) -> None:
        """Mark the end of the stream: the reader gets b"" once it has read everything before it."""
        if not self.closed:
            self.closed = True
            self._queue.put(None)

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(self._piece), b""))
        if self._offset == len(self._block):
            if self._ended:
                return b""
            block = self._queue.get()
            if block is None:
                self._ended = True
                return b""
            self._block, self._offset = block, 0
        start, self._offset = self._offset, min(len(self._block), self._offset + size)
        if start == 0 and self._offset == len(self._block):
            return self._block
        return self._block[start:self._offset]

    def readinto(self, buf: memoryview | bytearray) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


@contextmanager
def _forwarding() -> Iterator[None]:
    """An OSError passing the archive on (pg_restore gone, disk full) as the error users are shown."""
    try:
        yield
    except OSError as exc:
        raise from_os_error("writing", "the decrypted archive", exc) from exc


class RowCounter:
    """A write-only sink: `write` archive bytes in order, then `result()` gives rows per TABLE DATA dump ID.

    With `forward`, the archive also goes on to it from the counting thread (see count_copy_rows
    for how its chunks may be joined); nothing reaches `forward` unless it parses as an archive.
    """

    def __init__(self, forward: BinaryIO | None = None) -> None:
        self._stream = Handoff()
        self._forward = forward
        self._counts: dict[int, int] | None = None
        self._error: RecoveryError | None = None
        self._thread = threading.Thread(target=self._run, name="rc-rowcount", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            recording = _Recording(self._stream)
            archive = pgarchive.read_archive(recording)
            rest = _Prefixed(bytes(recording.seen[archive.toc_end:]), self._stream)
            forward = None
            if self._forward is not None:
                self._pass_on(bytes(recording.seen[:archive.toc_end]))
                forward = self._pass_on
            recording.seen = bytearray()
            self._counts = pgarchive.count_copy_rows(rest, archive, forward)
            if self._forward is not None:
                self._flush()
        except RecoveryError as exc:
            self._error = exc
        finally:
            while self._stream.read(HANDOFF_PIECE):
                pass

    def _pass_on(self, data: bytes) -> None:
        assert self._forward is not None
        with _forwarding():
            self._forward.write(data)

    def _flush(self) -> None:
        assert self._forward is not None
        with _forwarding():
            self._forward.flush()

    def write(self, data: bytes | memoryview) -> int:
        return self._stream.write(data)

    def close(self) -> None:
        self._stream.close()
        self._thread.join()

    def result(self) -> dict[int, int]:
        self.close()
        if self._error is not None:
            raise self._error
        if self._counts is None:
            raise IntegrityError("The archive's rows could not be counted.")
        return self._counts
