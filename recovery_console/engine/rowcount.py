"""Counts each table's rows in an archive byte stream as it passes by, in a helper thread.

Used while a backup is verified before a restore, so the restored copy can be checked table by
table without decrypting the backup a second time.
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

from . import pgarchive
from .errors import IntegrityError, RecoveryError
from .streams import widen_pipe


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


class RowCounter:
    """A write-only sink: `write` archive bytes in order, then `result()` gives rows per TABLE DATA dump ID."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        widen_pipe(write_fd)
        self._reader = os.fdopen(read_fd, "rb")
        self._writer = os.fdopen(write_fd, "wb")
        self._counts: dict[int, int] | None = None
        self._error: RecoveryError | None = None
        self._thread = threading.Thread(target=self._run, name="rc-rowcount", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            recording = _Recording(self._reader)
            archive = pgarchive.read_archive(recording)
            rest = _Prefixed(bytes(recording.seen[archive.toc_end:]), self._reader)
            recording.seen = bytearray()
            self._counts = pgarchive.count_copy_rows(rest, archive)
        except RecoveryError as exc:
            self._error = exc
        finally:
            while self._reader.read(1 << 16):
                pass
            self._reader.close()

    def write(self, data: bytes | memoryview) -> int:
        self._writer.write(data)
        return len(data)

    def close(self) -> None:
        if not self._writer.closed:
            self._writer.close()
        self._thread.join()

    def result(self) -> dict[int, int]:
        self.close()
        if self._error is not None:
            raise self._error
        if self._counts is None:
            raise IntegrityError("The archive's rows could not be counted.")
        return self._counts
