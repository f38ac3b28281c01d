"""Proves an archive whole: every data block its TOC promises is present and ends where it should.

A pg_dump archive cut after its TOC (or between or inside data blocks) still lists every table;
only walking the data to its end shows that pg_restore would fail. Each block's framing and sizes
are read (data_blocks.walk), and each block's compressed stream is decompressed (gzip/zlib, zstd)
or, for lz4, walked frame by frame to its end mark; an uncompressed block only needs its framing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from recovery_console.engine.archive.cursor import OFFSET_NO_DATA
from recovery_console.engine.archive.data_blocks import decompressed, walk
from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.rowcount import HANDOFF_PIECE, Handoff, split_at_toc
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.errors import IntegrityError, RecoveryError

LZ4_MAGIC = 0x184D2204
LZ4_SKIPPABLE = 0x184D2A50  # through 0x184D2A5F
LZ4_UNCOMPRESSED_BIT = 0x80000000


def check_blocks(fp: ReadableStream, archive: Archive) -> None:
    """Walk every data block after the TOC to its end; raise IntegrityError for a short or damaged archive."""
    compression = archive.header.compression
    entries = {entry.dump_id: entry for entry in archive.toc}
    seen: set[int] = set()
    for dump_id, _block_type, pieces in walk(fp, archive):
        seen.add(dump_id)
        entry = entries[dump_id]
        what = f"the data of TOC entry {dump_id} ({entry.desc} {entry.tag})"
        if compression == "lz4":
            _walk_lz4(pieces, what)
        else:
            for _ in decompressed(pieces, compression, what):
                pass
    missing = [e.dump_id for e in archive.toc
               if e.had_dumper and e.data_state != OFFSET_NO_DATA and e.dump_id not in seen]
    if missing:
        raise IntegrityError(
            f"The archive is truncated: it ends without the data of {len(missing)} TOC entr"
            f"{'y' if len(missing) == 1 else 'ies'} (dump IDs {', '.join(map(str, missing[:10]))}"
            f"{', …' if len(missing) > 10 else ''}).",
            hint="The file was cut short (an interrupted copy, or a full disk while dumping); pg_restore would "
                 "fail on it. Make the dump again.",
        )


class _Bytes:
    """Pulls exactly-sized pieces from a block's payload pieces."""

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


def _walk_lz4(pieces: Iterator[bytes], what: str) -> None:
    """Walk LZ4 frames (lz4_Frame_format.md) to each one's end mark, without decompressing the blocks."""
    data = _Bytes(pieces, what)
    while not data.at_end():
        magic = int.from_bytes(data.take(4), "little")
        if magic & 0xFFFFFFF0 == LZ4_SKIPPABLE:
            data.skip(int.from_bytes(data.take(4), "little"))
            continue
        if magic != LZ4_MAGIC:
            raise IntegrityError(f"The lz4 data of {what} does not start a frame: the archive is damaged.")
        flags = data.take(2)[0]
        if flags >> 6 != 1:
            raise IntegrityError(f"The lz4 data of {what} has an unknown frame version: the archive is damaged.")
        data.skip((8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0) + 1)  # content size, dict id, checksum
        block_checksum = 4 if flags & 0x10 else 0
        while size := int.from_bytes(data.take(4), "little"):
            data.skip((size & ~LZ4_UNCOMPRESSED_BIT) + block_checksum)
        data.skip(4 if flags & 0x04 else 0)  # the content checksum after the end mark


class BlockCheck:
    """A write-only sink: `write` a whole archive's bytes in order, then `result()` raises if it is not whole.

    The walk runs on a helper thread (bounded memory, through a Handoff); `close()` ends it early.
    """

    def __init__(self) -> None:
        self._stream = Handoff()
        self._error: RecoveryError | None = None
        self._thread = threading.Thread(target=self._run, name="rc-blockcheck", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            archive, _, rest = split_at_toc(self._stream)
            check_blocks(rest, archive)
        except RecoveryError as exc:
            self._error = exc
        finally:
            while self._stream.read(HANDOFF_PIECE):
                pass

    def write(self, data: bytes | memoryview) -> int:
        return self._stream.write(data) if len(data) else 0  # an empty piece would read as the end

    def close(self) -> None:
        self._stream.close()
        self._thread.join()

    def result(self) -> None:
        """Wait for the walk to finish; raise what it found wrong."""
        self.close()
        if self._error is not None:
            raise self._error
