"""Small stream adapters shared by the engine: hashing/counting readers and sidecar files."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from .errors import IntegrityError

SIDECAR_SUFFIX = ".sha256"
_SIDECAR_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


class HashingReader:
    """Wraps a readable stream and hashes and counts every byte that passes through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._sha = hashlib.sha256()
        self.size = 0

    def readinto(self, buf: memoryview | bytearray) -> int:
        n = self._stream.readinto(buf)
        if n:
            self._sha.update(memoryview(buf)[:n])
            self.size += n
        return n or 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._sha.update(data)
        self.size += len(data)
        return data

    def drain(self, block: int = 1 << 20) -> None:
        """Read (and hash) whatever is left."""
        buf = bytearray(block)
        while self.readinto(memoryview(buf)):
            pass

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def sidecar_text(sha256_hex: str, filename: str) -> bytes:
    """`sha256sum` format, so `sha256sum -c file.enc.sha256` works beside the file."""
    return f"{sha256_hex}  {filename}\n".encode("utf-8")


def parse_sidecar(raw: bytes) -> str:
    try:
        line = raw.decode("utf-8").splitlines()[0].strip()
    except (UnicodeDecodeError, IndexError):
        line = ""
    match = _SIDECAR_LINE.match(line)
    if not match:
        raise IntegrityError("The .sha256 sidecar is not in sha256sum format.", hint="Recreate it or fetch it again.")
    return match.group(1).lower()


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    reader = HashingReader(stream)
    reader.drain()
    return reader.sha256, reader.size
