"""LZ4 frames decompressed in pure Python (lz4_Frame_format.md, lz4_Block_format.md), as pg_dump -Z lz4 writes them.

No LZ4 package is needed, so an air-gapped workstation reads lz4 archives too. Blocks may refer back
up to 64 KiB into earlier blocks (linked blocks, LZ4F's default), so that much output is kept.
Checksums (xxHash32) are not checked: a damaged block fails on its structure instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from recovery_console.errors import IntegrityError

MAGIC = 0x184D2204
SKIPPABLE = 0x184D2A50  # through 0x184D2A5F
UNCOMPRESSED = 0x80000000
WINDOW = 64 << 10
MAX_BLOCK = 4 << 20


class FramePieces:
    """Exactly-sized reads (and skips) from a block's payload pieces; running short is a damaged archive."""

    def __init__(self, pieces: Iterator[bytes], what: str) -> None:
        self._pieces = pieces
        self._buf = b""
        self._what = what

    def at_end(self) -> bool:
        while not self._buf:
            piece = next(self._pieces, None)
            if piece is None:
                return True
            self._buf = piece
        return False

    def take(self, n: int) -> bytes:
        while len(self._buf) < n:
            piece = next(self._pieces, None)
            if piece is None:
                raise IntegrityError(f"The lz4 stream of {self._what} ends early: the archive is damaged.")
            self._buf += piece
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def skip(self, n: int) -> None:
        while n:
            if self.at_end():
                raise IntegrityError(f"The lz4 stream of {self._what} ends early: the archive is damaged.")
            step = min(n, len(self._buf))
            self._buf = self._buf[step:]
            n -= step


def _frame_start(data: FramePieces, what: str) -> int | None:
    """Read one frame's header and return its flags; a skippable frame is passed over whole (None)."""
    magic = int.from_bytes(data.take(4), "little")
    if magic & 0xFFFFFFF0 == SKIPPABLE:
        data.skip(int.from_bytes(data.take(4), "little"))
        return None
    if magic != MAGIC:
        raise IntegrityError(f"The lz4 data of {what} does not start a frame: the archive is damaged.")
    flags = data.take(2)[0]
    if flags >> 6 != 1:
        raise IntegrityError(f"The lz4 data of {what} has an unknown frame version: the archive is damaged.")
    data.skip((8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0) + 1)  # content size, dict id, checksum
    return flags


def walk_frames(pieces: Iterator[bytes], what: str) -> None:
    """Walk LZ4 frames to each one's end mark without decompressing their blocks: a cut stream raises."""
    data = FramePieces(pieces, what)
    while not data.at_end():
        flags = _frame_start(data, what)
        if flags is None:
            continue
        block_checksum = 4 if flags & 0x10 else 0
        while size := int.from_bytes(data.take(4), "little"):
            data.skip((size & ~UNCOMPRESSED) + block_checksum)
        data.skip(4 if flags & 0x04 else 0)  # the content checksum after the end mark


def unlz4(pieces: Iterator[bytes], what: str) -> Iterator[bytes]:
    """The decompressed bytes of consecutive LZ4 frames, one decoded block at a time."""
    data = FramePieces(pieces, what)
    while not data.at_end():
        flags = _frame_start(data, what)
        if flags is None:
            continue
        block_checksum = 4 if flags & 0x10 else 0
        history = bytearray()
        while size := int.from_bytes(data.take(4), "little"):
            raw = data.take(size & ~UNCOMPRESSED)
            data.take(block_checksum)
            start = len(history)
            if size & UNCOMPRESSED:
                history += raw
            else:
                _decode_block(raw, history, what)
            yield bytes(history[start:])
            if len(history) > WINDOW:
                del history[:-WINDOW]
        data.take(4 if flags & 0x04 else 0)  # the content checksum after the end mark


def _decode_block(src: bytes, out: bytearray, what: str) -> None:
    """Append one compressed block's output to `out` (which holds the preceding output it may refer to)."""
    i, end, base = 0, len(src), len(out)
    try:
        while True:
            token = src[i]
            i += 1
            literals = token >> 4
            if literals == 15:
                while (extra := src[i]) == 255:
                    literals += 255
                    i += 1
                literals += extra
                i += 1
            out += src[i:i + literals]
            i += literals
            if i >= end:
                return
            offset = src[i] | src[i + 1] << 8
            i += 2
            length = token & 15
            if length == 15:
                while (extra := src[i]) == 255:
                    length += 255
                    i += 1
                length += extra
                i += 1
            length += 4
            start = len(out) - offset
            if offset == 0 or start < 0:
                raise IntegrityError(f"The lz4 data of {what} refers before its start: the archive is damaged.")
            if offset >= length:
                out += out[start:start + length]
            else:
                out += (out[start:] * (length // offset + 1))[:length]
            if len(out) - base > MAX_BLOCK:
                raise IntegrityError(f"An lz4 block of {what} expands past {MAX_BLOCK >> 20} MiB: the archive "
                                     "is damaged.")
    except IndexError:
        raise IntegrityError(f"An lz4 block of {what} ends inside a sequence: the archive is damaged.") from None
