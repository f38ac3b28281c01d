"""LZ4 frames (lz4_Frame_format.md) as pg_dump -Z lz4 writes them: walked to their end marks, or decompressed.

Walking reads only the frame and block headers (the completeness check needs no output);
decompressing is the C library's streaming frame decoder (`lz4.frame`), fed whole pieces.
"""

from __future__ import annotations

from collections.abc import Iterator

from recovery_console.errors import IntegrityError

MAGIC = 0x184D2204
SKIPPABLE = 0x184D2A50  # through 0x184D2A5F
UNCOMPRESSED = 0x80000000


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
    """The decompressed bytes of consecutive LZ4 frames (skippable ones passed over), a piece at a time.

    The C library decodes and checks the blocks (and their checksums, where the frame has them); a
    piece's output is at most LZ4's ratio (255) times its size. A frame cut short, or bytes that are
    no frame, raise IntegrityError.
    """
    import lz4.frame  # only lz4 archives need it (its import takes as long as reading a few MiB)

    context = lz4.frame.create_decompression_context()
    in_frame = False
    try:
        for piece in pieces:
            data = memoryview(piece)
            while data:
                out, used, ended = lz4.frame.decompress_chunk(context, data)
                in_frame = not ended
                if out:
                    yield out
                if not used and not ended:
                    break  # nothing taken: LZ4F is waiting for more than this piece holds
                data = data[used:]
    except RuntimeError as exc:  # lz4.frame reports every decoding failure so
        raise IntegrityError(f"The lz4 data of {what} does not decompress: the archive is damaged.",
                             detail=str(exc)) from exc
    if in_frame:
        raise IntegrityError(f"The lz4 stream of {what} ends early: the archive is damaged.")
