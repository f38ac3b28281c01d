"""The shape a zstd payload must have (docs/FORMAT.md, section 10): exactly one whole zstd frame.

zstd decoders accept several frames, skippable frames and a frame cut after a complete block
without complaint, so the payload's frame structure (RFC 8878, 3.1.1) is walked here, beside the
decompressor: it never decompresses, it only follows the header and block sizes.
"""

from __future__ import annotations

from collections.abc import Callable

from recovery_console.errors import IntegrityError

FRAME_MAGIC = b"\x28\xb5\x2f\xfd"
SKIPPABLE_MAGIC_MASK = 0xFFFFFFF0
SKIPPABLE_MAGIC = 0x184D2A50
BLOCK_HEADER_SIZE = 3
CHECKSUM_SIZE = 4
RESERVED_BLOCK_TYPE = 3
RLE_BLOCK_TYPE = 1
_DICTIONARY_ID_SIZES = (0, 1, 2, 4)
_CONTENT_SIZE_SIZES = (0, 2, 4, 8)


def _malformed(what: str) -> IntegrityError:
    return IntegrityError(f"The backup's compressed payload {what}: the backup is malformed.",
                          hint="A faulty or hostile writer made it; do not restore from it.")


class FrameWalker:
    """Fed the payload in order; refuses anything but one complete zstd frame with nothing after it."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._want = 5  # the frame magic and the frame header descriptor
        self._skip = 0  # bytes to pass over: header fields, block bodies, the checksum
        self._step: Callable[[bytes], None] | None = self._frame_start
        self._checksum = False
        self._seen = 0

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        pos = 0
        self._seen += len(view)
        while pos < len(view):
            if self._skip:
                passed = min(self._skip, len(view) - pos)
                self._skip -= passed
                pos += passed
                continue
            if self._step is None:
                raise _malformed("continues after the end of its zstd frame (only one frame is allowed)")
            taken = min(self._want - len(self._pending), len(view) - pos)
            self._pending += view[pos : pos + taken]
            pos += taken
            if len(self._pending) == self._want:
                raw = bytes(self._pending)
                self._pending.clear()
                self._step(raw)

    def finish(self) -> None:
        """After the last payload byte: the frame must have ended, its checksum included."""
        if not self._seen:
            raise _malformed("is empty, though the metadata says zstd (an empty archive is still one frame)")
        if self._step is not None or self._skip:
            raise _malformed("is cut short: its zstd frame does not end (a block or the checksum is missing)")

    def _frame_start(self, raw: bytes) -> None:
        if raw[:4] != FRAME_MAGIC:
            if int.from_bytes(raw[:4], "little") & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC:
                raise _malformed("starts with a skippable frame (only one zstd frame is allowed)")
            raise _malformed("does not start with a zstd frame")
        descriptor = raw[4]
        single_segment = bool(descriptor & 0x20)
        content_size = _CONTENT_SIZE_SIZES[descriptor >> 6] or (1 if single_segment else 0)
        self._checksum = bool(descriptor & 0x04)
        self._skip = (0 if single_segment else 1) + _DICTIONARY_ID_SIZES[descriptor & 0x03] + content_size
        self._want, self._step = BLOCK_HEADER_SIZE, self._block

    def _block(self, raw: bytes) -> None:
        value = int.from_bytes(raw, "little")
        last, kind, size = value & 1, (value >> 1) & 3, value >> 3
        if kind == RESERVED_BLOCK_TYPE:
            raise _malformed("holds a zstd block of the reserved type")
        self._skip = 1 if kind == RLE_BLOCK_TYPE else size
        if last:
            self._skip += CHECKSUM_SIZE if self._checksum else 0
            self._step = None
