"""The stream shapes the engine reads and writes, as Protocols: any object with these methods fits.

Files, pipes, storage readers and uploads, pg_dump's stdout and the engine's own adapters all
meet here by shape, not by class; each signature asks for only the methods it calls.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable


class ReadableStream(Protocol):
    """A source of bytes: `read(n)` gives up to n bytes (all that is left for n < 0), b"" only at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


class ReadIntoStream(ReadableStream, Protocol):
    """A source that can also fill the caller's buffer, sparing a copy of every block read."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int: ...


@runtime_checkable
class SeekableStream(Protocol):
    """A stream that may be able to move: only when `seekable()` is true may `seek` be called."""

    def seekable(self) -> bool: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class WritableStream(Protocol):
    """A sink of bytes; the engine never looks at what `write` returns (a count, or None)."""

    def write(self, data: bytes | memoryview, /) -> object: ...


class FlushableStream(WritableStream, Protocol):
    """A sink whose buffered bytes `flush` pushes on, e.g. a pipe into a child process."""

    def flush(self) -> None: ...


class ReadableFile(ReadIntoStream, Protocol):
    """An opened backup or archive: read from, then closed (also by `with`), like a file opened "rb"."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None, /) -> None: ...
