"""Small stream adapters shared by the engine: hashing/counting readers and sidecar files."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
from typing import TYPE_CHECKING

from recovery_console.engine.io_protocols import ReadIntoStream
from recovery_console.errors import IntegrityError

if TYPE_CHECKING:
    from _hashlib import HASH

SIDECAR_SUFFIX = ".sha256"
_SIDECAR_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


PIPE_BUFFER = 1 << 20


def widen_pipe(fd: int) -> None:
    """Give a pipe a 1 MiB kernel buffer (Linux; default 64 KiB), so a writer feeding several consumers in
    turn hands each a whole block and moves on instead of waiting on every one; best effort elsewhere."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER)


class HashingReader:
    """Wraps a readable stream and hashes and counts every byte that passes through it.

    With `hash=False` it only counts. `detach_hash()` hands the running hash to a caller that
    feeds it the rest of the stream itself (in order), e.g. on another thread.
    """

    def __init__(self, stream: ReadIntoStream, hash: bool = True) -> None:
        self._stream = stream
        self._sha: HASH | None = hashlib.sha256() if hash else None
        self.size = 0

    def readinto(self, buf: memoryview | bytearray) -> int:
        n = self._stream.readinto(buf)
        if n:
            if self._sha is not None:
                self._sha.update(memoryview(buf)[:n])
            self.size += n
        return n or 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if self._sha is not None:
            self._sha.update(data)
        self.size += len(data)
        return data

    def detach_hash(self) -> HASH | None:
        """Stop hashing here (counting goes on) and return the hash of everything read so far, or None."""
        sha, self._sha = self._sha, None
        return sha

    def drain(self, block: int = 1 << 20) -> None:
        """Read (and hash) whatever is left."""
        buf = bytearray(block)
        while self.readinto(memoryview(buf)):
            pass

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of everything read; only while this reader still hashes."""
        if self._sha is None:
            raise RuntimeError("This reader does not hash (hash=False, or its hash was detached).")
        return self._sha.hexdigest()


def sidecar_text(sha256_hex: str, filename: str) -> bytes:
    """`sha256sum` format, so `sha256sum -c file.enc.sha256` works beside the file."""
    return f"{sha256_hex}  {filename}\n".encode()


def parse_sidecar(raw: bytes) -> str:
    try:
        line = raw.decode("utf-8").splitlines()[0].strip()
    except (UnicodeDecodeError, IndexError):
        line = ""
    match = _SIDECAR_LINE.match(line)
    if not match:
        raise IntegrityError("The .sha256 sidecar is not in sha256sum format.", hint="Recreate it or fetch it again.")
    return match.group(1).lower()


def sha256_stream(stream: ReadIntoStream) -> tuple[str, int]:
    reader = HashingReader(stream)
    reader.drain()
    return reader.sha256, reader.size
