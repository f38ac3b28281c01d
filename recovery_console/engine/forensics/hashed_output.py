"""An output written by a helper thread, hashed (SHA-256) and counted as it goes.

hashlib and file writes release the GIL for large buffers, so hashing and writing an export's bytes
overlap with making the next ones. A regular file's written ranges are handed to the kernel's
writeback as they pass (posix_fadvise), so the fsync that makes the file whole at the end has
little left to wait for.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import threading
from types import TracebackType

from recovery_console.engine.io_protocols import WritableStream

DEPTH = 16
WRITEBACK = 16 << 20


class HashedOutput:
    """Writes pieces to `sink` in order from a helper thread; `sha` and `size` are final once `close` returned.

    A piece must not change after it is written (bytes, or a view of bytes). An error of the sink is raised
    by the next `write` or by `close`; use as a context manager, which always stops the thread.
    """

    def __init__(self, sink: WritableStream, depth: int = DEPTH) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self._sink = sink
        self._pieces: queue.Queue[bytes | memoryview | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._fd = _regular_file(sink)
        self._helper = threading.Thread(target=self._drain, name="hashed-output", daemon=True)
        self._helper.start()

    def write(self, data: bytes | memoryview) -> None:
        if self._error is not None:
            raise self._error
        if data:
            self.size += len(data)
            self._pieces.put(data)

    def close(self) -> None:
        """Wait until every piece is hashed and written; raise the sink's error, if it had one."""
        if self._helper.is_alive():
            self._pieces.put(None)
            self._helper.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> HashedOutput:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        elif self._helper.is_alive():
            self._error = self._error or exc  # the helper skips what is still queued
            self._pieces.put(None)
            self._helper.join()

    def _drain(self) -> None:
        written = pending = 0
        while (data := self._pieces.get()) is not None:
            if self._error is not None:
                continue
            try:
                self.sha.update(data)
                self._sink.write(data)
                pending += len(data)
                if self._fd is not None and pending >= WRITEBACK:
                    os.posix_fadvise(self._fd, written, pending, os.POSIX_FADV_DONTNEED)  # starts writeback
                    written, pending = written + pending, 0
            except BaseException as exc:  # noqa: BLE001  # raised in the writing thread by write() or close()
                self._error = exc


def _regular_file(sink: WritableStream) -> int | None:
    """The descriptor of a regular file being written from its start, where posix_fadvise exists; else None."""
    fileno, tell = getattr(sink, "fileno", None), getattr(sink, "tell", None)
    if not hasattr(os, "posix_fadvise") or fileno is None or tell is None:
        return None
    try:
        fd = fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) and tell() == 0 else None
    except (OSError, ValueError):
        return None
