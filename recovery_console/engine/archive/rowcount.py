"""Counts each table's COPY rows in an archive: from a file, or from a byte stream as it passes by.

`RowCounter` counts in a helper thread while a backup streams into pg_restore, so the restored copy
can be checked table by table without decrypting the backup a second time; the same thread passes
the archive on to pg_restore, with pg_dump -Z0's one-row chunks joined into large ones.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.archive.copy_chunks import NEWLINE, before_numpy
from recovery_console.engine.archive.cursor import OFFSET_NO_DATA, OFFSET_SET
from recovery_console.engine.archive.data_blocks import BLOCK_DATA, decompressed, walk
from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.io_protocols import FlushableStream, ReadableStream
from recovery_console.errors import IntegrityError, RecoveryError, UnsupportedError, from_os_error
from recovery_console.formatting import counted

HANDOFF_PIECE = 1 << 20
HANDOFF_DEPTH = 2


def _count_rows(stream: Iterator[bytes]) -> int:
    """Newline-terminated COPY rows before a "\\." line, if any; the rest is still read, to check it decompresses."""
    rows = 0
    line = b""  # start of the current, unfinished line (only its first 3 bytes matter)
    ended = False
    for chunk in stream:
        if ended:
            continue
        first = chunk.find(b"\n")
        if first < 0:
            line = (line + chunk[:3])[:3]
            continue
        if len(line) + first == 2 and line + chunk[:first] == b"\\.":
            ended = True
            continue
        rows += 1
        backslash = chunk.find(b"\\", first)  # a memchr; most data has none, so no terminator to look for
        end = chunk.find(b"\n\\.\n", backslash - 1) if backslash >= 0 else -1
        if end >= 0:
            rows += chunk.count(b"\n", first + 1, end + 1)
            ended = True
            continue
        rows += _newlines(chunk, first + 1)
        start = chunk.rfind(b"\n") + 1
        line = chunk[start:start + 3]
    return rows


def _newlines(data: bytes, start: int) -> int:
    """Newlines in data[start:]; numpy counts them several times faster than bytes.count."""
    before_numpy()
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(data, np.uint8, len(data) - start, start) == NEWLINE))


def count_copy_rows(fp: ReadableStream, archive: Archive,
                    forward: Callable[[bytes], object] | None = None) -> dict[int, int]:
    """Map each TABLE DATA entry's dump ID to its number of COPY rows, decompressing in bounded memory.

    Every byte after the TOC also goes to `forward`, if given, in order; runs of small chunks as one
    large chunk each, unless the TOC records data offsets, which that would move.
    Raises UnsupportedError for lz4 archives and IntegrityError when a TABLE DATA block is missing.
    """
    compression = archive.header.compression
    if compression == "lz4":
        raise UnsupportedError(
            "This archive's data is compressed with lz4, which this release cannot decompress.",
            hint="Dump with the default (gzip), or with `pg_dump --compress=zstd`, instead.",
        )
    entries = {entry.dump_id: entry for entry in archive.toc}
    counts: dict[int, int] = {}
    reframe = forward is not None and all(entry.data_state != OFFSET_SET for entry in archive.toc)
    for dump_id, block_type, pieces in walk(fp, archive, forward, reframe):
        entry = entries[dump_id]
        if block_type == BLOCK_DATA and entry.desc == "TABLE DATA":
            counts[dump_id] = _count_rows(decompressed(pieces, compression, f"TOC entry {dump_id} ({entry.tag})"))
    missing = [
        e.dump_id for e in archive.toc
        if e.desc == "TABLE DATA" and e.had_dumper and e.data_state != OFFSET_NO_DATA and e.dump_id not in counts
    ]
    if missing:
        raise IntegrityError(
            f"The archive ends without the data of {counted(len(missing), 'table')} its TOC lists (dump IDs "
            f"{', '.join(map(str, missing[:10]))}{', …' if len(missing) > 10 else ''}).",
            hint="The file was probably cut short at a block boundary.",
        )
    return counts


class _Prefixed:
    """A read-only stream: some bytes already read, then the rest of a file."""

    def __init__(self, prefix: bytes, rest: ReadableStream) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            n = len(self._prefix) if size < 0 else min(size, len(self._prefix))
            data, self._prefix = bytes(self._prefix[:n]), self._prefix[n:]
            return data
        return self._rest.read(size)


class _Recording:
    """Remembers every byte read, so the data after the TOC can be replayed."""

    def __init__(self, fp: ReadableStream) -> None:
        self._fp = fp
        self.seen = bytearray()

    def read(self, size: int = -1) -> bytes:
        data = self._fp.read(size)
        self.seen += data
        return data


def split_at_toc(stream: ReadableStream) -> tuple[pgarchive.Archive, bytes, ReadableStream]:
    """Parse an archive's header and TOC from `stream`: the archive, the bytes read for them, and the rest."""
    recording = _Recording(stream)
    archive = pgarchive.read_archive(recording)
    head = bytes(recording.seen[:archive.toc_end])
    return archive, head, _Prefixed(bytes(recording.seen[archive.toc_end:]), stream)


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

    def write(self, data: bytes | memoryview) -> int:
        if isinstance(data, bytes) and len(data) <= self._piece:
            self._queue.put(data)
        else:
            view = memoryview(data)
            for start in range(0, len(view), self._piece):
                self._queue.put(bytes(view[start:start + self._piece]))
        return len(data)

    def close(self) -> None:
        """Mark the end of the stream: the reader gets b"" once it has read everything before it.

        Marked closed only once the end is queued: a second Ctrl-C that cuts the put short leaves it unmarked,
        so the next close() queues it, and a reader joined after that never waits for an end that never came."""
        if not self.closed:
            self._queue.put(None)
            self.closed = True

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

    def __init__(self, forward: FlushableStream | None = None) -> None:
        self._stream = Handoff()
        self._forward = forward
        self._counts: dict[int, int] | None = None
        self._error: RecoveryError | None = None
        self._thread = threading.Thread(target=self._run, name="rc-rowcount", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            archive, head, rest = split_at_toc(self._stream)
            forward = None
            if self._forward is not None:
                self._pass_on(head)
                forward = self._pass_on
            self._counts = count_copy_rows(rest, archive, forward)
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
