"""The data blocks after a pg_dump archive's TOC, walked in stream order and bounded memory.

A data block is a type byte (1 table data, 3 large objects), the Int dump ID, then the payload:
(Int length, bytes)* ending with Int 0; a large-object block repeats (Int oid, that chunk list)
and ends with oid 0 (pg_backup_custom.c _WriteData, _StartLOs). Payloads come out in pieces,
decompressed on request (gzip or zstd as pg_dump wrote them); `large_objects` splits a large-object
block's payload into its objects.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import zstandard

from recovery_console.engine.archive.copy_chunks import HEADER as RUN_HEADER
from recovery_console.engine.archive.copy_chunks import strip_headers
from recovery_console.engine.archive.cursor import OFFSET_SET, Cursor
from recovery_console.engine.archive.pgarchive import Archive, read_toc_entries
from recovery_console.engine.io_protocols import ReadableStream, SeekableStream
from recovery_console.errors import IntegrityError, from_os_error

BLOCK_DATA = 1
BLOCK_BLOBS = 3
PIECE = 64 << 10
READ_AHEAD = 1 << 20
INFLATED = 1 << 20
ZSTD_SLICE = 4 << 10
OID_RANGE = 1 << 32


@dataclass(frozen=True)
class DataBlock:
    """One data block after the TOC: its entry, type (1 data, 3 large objects) and stored byte count."""

    dump_id: int
    block_type: int
    compressed_length: int


class _BlockReader:
    """Reads archive primitives from the data-block stream through a read-ahead buffer, tracking the offset.

    `pg_dump -Z0` writes one chunk per table row, so per-primitive file reads would dominate;
    the buffer makes each primitive a slice. Every byte read is also handed to `tap`, if given,
    as it was, except that with `reframe` each run from `chunk_run` goes to it as one chunk.
    """

    def __init__(self, fp: ReadableStream, archive: Archive, tap: Callable[[bytes], object] | None = None,
                 reframe: bool = False, framing_only: bool = False) -> None:
        self.fp = fp
        self.pos = archive.toc_end
        self.int_size = archive.header.int_size
        self.tap = tap
        self.reframe = reframe
        self.framing_only = framing_only
        self._data = b""
        self._off = 0

    def _available(self, n: int) -> int:
        """Make up to n bytes available (fewer only at end of file); return how many are."""
        have = len(self._data) - self._off
        if have >= n:
            return n
        pieces = [self._data[self._off:]]
        while have < n:
            try:
                piece = self.fp.read(max(n - have, READ_AHEAD))
            except OSError as exc:
                raise from_os_error("reading", "the archive's data", exc) from exc
            if not piece:
                break
            pieces.append(piece)
            have += len(piece)
        self._data, self._off = b"".join(pieces), 0
        return min(have, n)

    def take(self, n: int) -> bytes:
        """Up to n bytes; fewer only at end of file."""
        got = self._available(n)
        piece = self._data[self._off:self._off + got]
        self._off += got
        self.pos += got
        if self.tap is not None:
            self.tap(piece)
        return piece

    def chunk_run(self) -> bytes:
        """The payload of the whole chunks buffered from here on, found in bulk (see copy_chunks); b"" if none.

        Only for intSize 4, at the start of a chunk header.
        """
        self._available(READ_AHEAD)
        run = strip_headers(self._data, self._off, len(self._data), payload=not self.framing_only)
        if run.consumed:
            if self.tap is not None and self.reframe:
                self.tap(b"\x00" + len(run.payload).to_bytes(RUN_HEADER - 1, "little"))
                self.tap(run.payload)
            elif self.tap is not None:
                self.tap(self._data[self._off:self._off + run.consumed])
            self._off += run.consumed
            self.pos += run.consumed
        return run.payload

    def exact(self, n: int, what: str) -> bytes:
        piece = self.take(n)
        if len(piece) < n:
            raise IntegrityError(
                f"The archive is truncated: it ends at byte {self.pos}, inside {what}.",
                hint="The file was cut short; its data cannot be trusted.",
            )
        return piece

    def type_byte(self) -> int | None:
        """The next block's type byte, or None at a clean end of file."""
        piece = self.take(1)
        return piece[0] if piece else None

    def read_int(self, what: str) -> int:
        raw = self.exact(1 + self.int_size, what)
        if raw[0] > 1:
            raise IntegrityError(f"The archive's {what} at byte {self.pos - len(raw)} has an invalid sign byte.")
        magnitude = int.from_bytes(raw[1:], "little")
        return -magnitude if raw[0] else magnitude


class _Payload:
    """A block's payload pieces (at most PIECE bytes each, or one bulk run of chunks), read on demand.

    A data block is (Int length, bytes)* ending with Int 0; a large-object block repeats
    (Int oid, that chunk list) and ends with oid 0. A plain iterator without close(), so a
    consumer that stops early never loses the stream's place: `walk` drains the rest.
    With `bulk`, chunks are taken in runs (`_BlockReader.chunk_run`), one chunk at a time only
    where a run stops.
    """

    def __init__(self, reader: _BlockReader, block_type: int, what: str, bulk: bool = False) -> None:
        self._reader = reader
        self._what = what
        self._large_objects = block_type == BLOCK_BLOBS
        self._in_object = not self._large_objects
        self._bulk = bulk and not self._large_objects
        self._left = 0
        self._done = False
        self._per_object = False
        self.oid = 0
        self.oid_at = 0

    def __iter__(self) -> _Payload:
        return self

    def __next__(self) -> bytes:
        """The next piece of payload: consecutive small chunks are joined, up to PIECE bytes."""
        reader, what = self._reader, self._what
        pieces: list[bytes] = []
        size = 0
        while size < PIECE:
            if not self._left:
                if self._done or (self._bulk and pieces) or (self._per_object and not self._in_object):
                    break
                if self._bulk and (run := reader.chunk_run()):
                    return run
                self._next_chunk(reader, what)
                continue
            piece = reader.exact(min(self._left, PIECE - size), what)
            self._left -= len(piece)
            pieces.append(piece)
            size += len(piece)
        if not pieces:
            raise StopIteration
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _next_chunk(self, reader: _BlockReader, what: str) -> None:
        """Read the next chunk header (or large-object OID); an empty chunk ends the object or block."""
        if not self._in_object:
            self.oid_at = reader.pos
            self.oid = reader.read_int(what) % OID_RANGE  # pg_dump writes an Oid as a signed Int; 0 ends the list
            self._in_object = self.oid != 0
            self._done = not self._in_object
            return
        length = reader.read_int(what)
        if length < 0:
            raise IntegrityError(f"The archive's {what} declares a negative chunk length ({length}) "
                                 f"at byte {reader.pos - 1 - reader.int_size}.")
        if length == 0:
            self._in_object = False
            self._done = not self._large_objects
        self._left = length

    def objects(self) -> Iterator[LargeObject]:
        """A large-object block's objects in stream order, each readable only until the next is asked for."""
        if not self._large_objects:
            raise ValueError("only a large-object block holds large objects")
        self._per_object = True
        while True:
            for _ in self:  # the rest of the previous object, if its reader stopped early
                pass
            if self._done:
                return
            self._next_chunk(self._reader, self._what)
            if self._done:
                return
            yield LargeObject(self.oid, self.oid_at, self)

    def drain(self) -> None:
        """Read past whatever of the block is left."""
        self._per_object = False
        for _ in self:
            pass


@dataclass(frozen=True)
class LargeObject:
    """One large object of a BLOBS block: its OID, the byte where its OID starts, its stored (compressed) pieces."""

    oid: int
    at: int
    pieces: Iterator[bytes]


def large_objects(pieces: Iterator[bytes]) -> Iterator[LargeObject]:
    """The objects of a large-object block's payload, as `walk` yields it (block type BLOCK_BLOBS).

    Each object's pieces end at that object's end-of-data chunk; pg_dump compresses every object
    as a stream of its own (_StartLO/_EndLO), so each decompresses alone.
    """
    if not isinstance(pieces, _Payload):
        raise TypeError("large_objects reads the payload of a block from walk()")
    return pieces.objects()


def walk(fp: ReadableStream, archive: Archive, tap: Callable[[bytes], object] | None = None,
         reframe: bool = False, framing_only: bool = False) -> Iterator[tuple[int, int, Iterator[bytes]]]:
    """Yield (dump_id, block_type, payload pieces) per data block; unread payload is skipped afterwards.

    `tap` and `reframe` are the _BlockReader's: every byte after the TOC also goes to `tap`. With
    `framing_only`, runs of uncompressed chunks are walked, not copied: their pieces are FRAMING_ONLY.
    """
    if isinstance(fp, SeekableStream) and fp.seekable():
        fp.seek(archive.toc_end)
    entries = {entry.dump_id: entry for entry in archive.toc}
    reader = _BlockReader(fp, archive, tap, reframe, framing_only)
    bulk = archive.header.compression == "none" and archive.header.int_size == RUN_HEADER - 1
    while True:
        start = reader.pos
        block_type = reader.type_byte()
        if block_type is None:
            return
        if block_type not in (BLOCK_DATA, BLOCK_BLOBS):
            if _is_toc_copy(reader, archive, block_type):
                return
            raise IntegrityError(
                f"The archive has an unknown data block type ({block_type}) at byte {start}: it is damaged."
            )
        dump_id = reader.read_int(f"the data block header at byte {start}")
        entry = entries.get(dump_id)
        if entry is None:
            raise IntegrityError(
                f"The archive has a data block at byte {start} for dump ID {dump_id}, which its TOC lacks."
            )
        if entry.data_state == OFFSET_SET and entry.data_offset != start:
            raise IntegrityError(
                f"The data of TOC entry {dump_id} is at byte {start}, but the TOC says {entry.data_offset}."
            )
        pieces = _Payload(reader, block_type, f"the data of TOC entry {dump_id} ({entry.desc} {entry.tag})", bulk)
        yield dump_id, block_type, pieces
        pieces.drain()


def _is_toc_copy(reader: _BlockReader, archive: Archive, first: int) -> bool:
    """Whether the rest of the file (from `first`, already read) is a second copy of the TOC.

    pg_dump 16+ writing -Fc to a redirected stdout (`pg_dump -Fc > file`) puts stdout in append
    mode, so its TOC rewrite with the data offsets lands after the data instead of over the first
    TOC. pg_restore never reads it; here it is accepted only if it repeats the TOC exactly.
    """
    rest = reader.take(archive.toc_end)
    if len(rest) == archive.toc_end:
        return False  # longer than the whole header and TOC: not a copy
    tail = bytes([first]) + rest
    c = Cursor(tail)
    c.int_size, c.off_size = archive.header.int_size, archive.header.off_size
    try:
        copy = read_toc_entries(c, archive.header.version)
    except IntegrityError:
        return False
    without_offsets = [replace(e, data_state=0, data_offset=0) for e in archive.toc]
    return c.pos == len(tail) and [replace(e, data_state=0, data_offset=0) for e in copy] == without_offsets


def iter_data_blocks(fp: ReadableStream, archive: Archive) -> Iterator[DataBlock]:
    """Walk the data blocks after the TOC in stream order, in bounded memory; stop cleanly at EOF.

    A seekable `fp` is first moved to `archive.toc_end`; a stream must already be there. A torn
    or unknown block, a block the TOC lacks or one not at its TOC offset raises IntegrityError.
    """
    for dump_id, block_type, pieces in walk(fp, archive):
        length = sum(len(piece) for piece in pieces)
        yield DataBlock(dump_id=dump_id, block_type=block_type, compressed_length=length)


def decompressed(pieces: Iterator[bytes], compression: str, what: str) -> Iterator[bytes]:
    """Decompress a block's payload: gzip in pieces of at most INFLATED bytes, zstd see _unzstd."""
    if compression == "none":
        yield from pieces
    elif compression == "gzip":
        inflater = zlib.decompressobj()
        seen = False
        try:
            for piece in pieces:
                seen = True
                data = piece
                while data:
                    yield inflater.decompress(data, INFLATED)
                    data = inflater.unconsumed_tail
            if seen and not inflater.eof:
                raise IntegrityError(f"The compressed stream of {what} ends early: the archive is damaged.")
        except zlib.error as exc:
            raise IntegrityError(f"The compressed data of {what} does not decompress.", detail=str(exc)) from exc
    else:
        yield from _unzstd(pieces, what)


def _unzstd(pieces: Iterator[bytes], what: str) -> Iterator[bytes]:
    """Decompress zstd frames (as pg_dump's ZSTD_decompressStream does, one after another).

    Input goes in slices of ZSTD_SLICE bytes, so one call yields at most ~128 MiB even for data
    that expands as far as zstd allows (a 3-byte block header per 128 KiB); `eof` at the end proves
    the last frame is whole.
    """
    frame = None
    try:
        for piece in pieces:
            for i in range(0, len(piece), ZSTD_SLICE):
                data = piece[i : i + ZSTD_SLICE]
                while data:
                    if frame is None or frame.eof:
                        frame = zstandard.ZstdDecompressor().decompressobj()
                    out = frame.decompress(data)
                    data = frame.unused_data if frame.eof else b""
                    if out:
                        yield out
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"The compressed data of {what} does not decompress.", detail=str(exc)) from exc
    if frame is not None and not frame.eof:
        raise IntegrityError(f"The compressed stream of {what} ends early: the archive is damaged.")
