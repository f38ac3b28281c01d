"""A pure-Python reader for pg_dump custom-format archives (archive versions 1.14 to 1.16, PostgreSQL 12 to 18).

Layout (src/bin/pg_dump/pg_backup_archiver.c ReadHead/ReadToc, pg_backup_custom.c):
Int = sign byte (0/1) + intSize bytes little-endian magnitude; Str = Int length + bytes, length -1
is NULL (None here) and 0 an empty string; Offset = flag byte (1 not set, 2 set, 3 no data) + offSize
bytes little-endian. Header: "PGDMP", major, minor, revision, intSize, offSize, format; then the
compression (1.14: Int level, 0 none else gzip, default -1; 1.15+: one algorithm byte), seven Ints of
creation time (sec, min, hour, mday, mon 0-11, year-1900, isdst), Str dbname, Str server version,
Str pg_dump version. TOC: Int count, then per entry the fields of `TocEntry` in order (relkind, an
Int, only from 1.16 on, between tableam and owner), a Str "false" (WITH OIDS), dependency Strs ending
with a NULL Str, and the data Offset. Data blocks follow the TOC.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import BinaryIO, NoReturn

import zstandard

from recovery_console.engine.archive.copy_chunks import HEADER as RUN_HEADER
from recovery_console.engine.archive.copy_chunks import NEWLINE, load_numpy, strip_headers
from recovery_console.errors import IntegrityError, UnsupportedError, from_os_error

SUPPORTED_VERSIONS = ((1, 14), (1, 15), (1, 16))
MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
TOC_LIMIT = 256 << 20
MAX_ENTRIES = 10_000_000
BLOCK_DATA = 1
BLOCK_BLOBS = 3
OFFSET_NOT_SET, OFFSET_SET, OFFSET_NO_DATA = 1, 2, 3
PIECE = 64 << 10
READ_AHEAD = 1 << 20
ZSTD_SLICE = 1 << 10

_FORMAT_NAMES = {0: "unknown", 1: "custom", 2: "files", 3: "tar", 4: "null", 5: "directory"}
_ALGORITHMS = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}
_SECTION_PRE_DATA, _SECTION_DATA, _SECTION_POST_DATA = 2, 3, 4
_NONE_SECTION = 1
_LARGE_OBJECT_DATA_DESCS = {"SEQUENCE SET", "BLOB", "BLOB METADATA"}
_LARGE_OBJECT_TAGGED_DESCS = {"ACL", "COMMENT", "SECURITY LABEL"}


class ArchiveIncomplete(IntegrityError):
    """The buffer ends before the header and TOC do; `needed` is the least buffer length that gets further."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message, hint="Feed more of the archive, or check that the file is complete.")
        self.needed = needed


@dataclass(frozen=True)
class ArchiveHeader:
    """The archive header: format version, integer sizes, compression and where the dump came from."""

    version: tuple[int, int, int]
    int_size: int
    off_size: int
    format: int
    compression: str
    created: datetime | None
    dbname: str
    server_version: str
    dump_version: str

    @property
    def version_str(self) -> str:
        """The archive version as pg_restore names it, e.g. "1.16"."""
        return f"{self.version[0]}.{self.version[1]}"


@dataclass(frozen=True)
class TocEntry:
    """One table-of-contents entry; NULL strings of the archive read as ""."""

    dump_id: int
    had_dumper: bool
    table_oid: str
    oid: str
    tag: str
    desc: str
    section: int
    defn: str
    drop_stmt: str
    copy_stmt: str
    namespace: str
    tablespace: str
    tableam: str
    relkind: int | None
    owner: str
    dependencies: tuple[int, ...]
    data_state: int
    data_offset: int


@dataclass(frozen=True)
class Archive:
    """A parsed header and TOC; `toc_end` is the byte offset where the data blocks begin."""

    header: ArchiveHeader
    toc: tuple[TocEntry, ...]
    toc_end: int

    def object_counts(self) -> dict[str, int]:
        """Number of TOC entries per description, e.g. {"TABLE": 3, "TABLE DATA": 3}."""
        return dict(Counter(entry.desc for entry in self.toc))


@dataclass(frozen=True)
class DataBlock:
    """One data block after the TOC: its entry, type (1 data, 3 large objects) and stored byte count."""

    dump_id: int
    block_type: int
    compressed_length: int


class _Cursor:
    """Reads archive primitives from a buffer, raising ArchiveIncomplete where the buffer runs out."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.pos = 0
        self.limit = min(len(data), TOC_LIMIT)  # reads ending past this go to _short
        self.int_size = 4
        self.off_size = 8

    def _short(self, end: int, what: str) -> NoReturn:
        if end > TOC_LIMIT:
            raise IntegrityError(
                f"The archive's {what} at byte {self.pos} would end past {TOC_LIMIT >> 20} MiB: "
                "its table of contents is damaged or absurdly large.",
                hint="This is not a table of contents pg_dump would write; the archive is probably corrupt.",
            )
        raise ArchiveIncomplete(
            f"The archive ends at byte {len(self.data)}, inside its {what} (byte {self.pos}).", needed=end
        )

    def read_bytes(self, n: int, what: str) -> bytes:
        start, end = self.pos, self.pos + n
        if end > self.limit:
            self._short(end, what)
        self.pos = end
        return bytes(self.data[start:end])

    def read_byte(self, what: str) -> int:
        return self.read_bytes(1, what)[0]

    def read_int(self, what: str) -> int:
        start, end = self.pos, self.pos + 1 + self.int_size
        if end > self.limit:
            self._short(end, what)
        sign = self.data[start]
        if sign > 1:
            raise IntegrityError(f"The archive's {what} at byte {start} has an invalid sign byte ({sign}).")
        self.pos = end
        magnitude = int.from_bytes(self.data[start + 1 : end], "little")
        return -magnitude if sign else magnitude

    def read_str(self, what: str) -> str | None:
        """Str: length -1 is NULL (None); pg_restore reads any negative length as NULL, here only -1 passes."""
        length = self.read_int(what)
        if length == -1:
            return None
        if length < 0:
            raise IntegrityError(f"The archive's {what} before byte {self.pos} has a negative length ({length}).")
        start, end = self.pos, self.pos + length
        if end > self.limit:
            self._short(end, what)
        self.pos = end
        return self.data[start:end].decode("utf-8", "replace")

    def read_text(self, what: str) -> str:
        return self.read_str(what) or ""

    def read_offset(self, what: str) -> tuple[int, int]:
        start = self.pos
        state = self.read_byte(what)
        if state not in (OFFSET_NOT_SET, OFFSET_SET, OFFSET_NO_DATA):
            raise IntegrityError(f"The archive's {what} at byte {start} has an unknown data-offset flag ({state}).")
        return state, int.from_bytes(self.read_bytes(self.off_size, what), "little")


def _check_version(version: tuple[int, int]) -> None:
    """Refuse archive versions outside SUPPORTED_VERSIONS, saying which side of the range they fall."""
    if version in SUPPORTED_VERSIONS:
        return
    found = f"{version[0]}.{version[1]}"
    newer = version > SUPPORTED_VERSIONS[-1]
    raise UnsupportedError(
        f"This pg_dump archive has format version {found}; this release reads versions 1.14 to 1.16 "
        "(pg_dump of PostgreSQL 12 to 18).",
        hint="The archive probably comes from a newer PostgreSQL; use a newer release of this tool."
        if newer
        else "The archive comes from a pg_dump older than PostgreSQL 12; dump the database again with a newer pg_dump.",
    )


def _created(c: _Cursor) -> datetime | None:
    """The creation time: seven Ints of the dumping machine's local time (struct tm); None if impossible."""
    sec, minute, hour, mday, mon, year, _isdst = (c.read_int("creation time") for _ in range(7))
    try:
        return datetime(year + 1900, mon + 1, mday, hour, minute, sec)
    except (ValueError, OverflowError):
        return None


def _header(c: _Cursor) -> ArchiveHeader:
    """Everything after the signature up to the TOC (ReadHead); sets the cursor's Int and offset sizes."""
    major, minor = c.read_byte("version"), c.read_byte("version")
    _check_version((major, minor))
    version = (major, minor, c.read_byte("version"))
    int_size = c.read_byte("integer size")
    off_size = c.read_byte("offset size")
    if not 1 <= int_size <= 8 or not 1 <= off_size <= 8:
        raise IntegrityError(
            f"The archive declares {int_size}-byte integers and {off_size}-byte offsets; "
            "pg_dump writes 4 and 8. The header is damaged."
        )
    c.int_size, c.off_size = int_size, off_size
    fmt = c.read_byte("format")
    if fmt != FORMAT_CUSTOM:
        raise UnsupportedError(
            f"This pg_dump archive is in the {_FORMAT_NAMES.get(fmt, f'unknown ({fmt})')} format; only the custom "
            "format (pg_dump -Fc) is read. Tar and directory archives are not supported.",
            hint="Dump the database with pg_dump -Fc, or convert the archive with pg_restore into a custom one.",
        )
    if version[:2] >= (1, 15):
        algorithm = c.read_byte("compression")
        if algorithm not in _ALGORITHMS:
            raise IntegrityError(f"The archive names an unknown compression algorithm ({algorithm}).")
        compression = _ALGORITHMS[algorithm]
    else:
        level = c.read_int("compression level")
        if not -1 <= level <= 9:
            raise IntegrityError(f"The archive names an impossible gzip compression level ({level}).")
        compression = "none" if level == 0 else "gzip"
    created = _created(c)
    return ArchiveHeader(
        version=version,
        int_size=int_size,
        off_size=off_size,
        format=fmt,
        compression=compression,
        created=created,
        dbname=c.read_text("database name"),
        server_version=c.read_text("server version"),
        dump_version=c.read_text("pg_dump version"),
    )


def _dependencies(c: _Cursor, dump_id: int) -> tuple[int, ...]:
    """Dump IDs written as decimal Strs, ended by a NULL Str."""
    deps = []
    while (dep := c.read_str(f"dependencies of entry {dump_id}")) is not None:
        if not (dep.isascii() and dep.isdigit() and len(dep) <= 10):
            raise IntegrityError(f"TOC entry {dump_id} lists a dependency that is not a number ({dep[:20]!r}).")
        deps.append(int(dep))
    return tuple(deps)


def _entry(c: _Cursor, version: tuple[int, int, int], index: int) -> TocEntry:
    """One TOC entry in ReadToc's order, then the custom format's data Offset (_ReadExtraToc)."""
    where = f"TOC entry #{index + 1}"
    start = c.pos
    dump_id = c.read_int(where)
    if dump_id <= 0:
        raise IntegrityError(f"{where} at byte {start} has an impossible dump ID ({dump_id}): the TOC is corrupt.")
    where = f"TOC entry {dump_id}"
    had_dumper = c.read_int(where) != 0
    table_oid, oid, tag, desc = c.read_text(where), c.read_text(where), c.read_text(where), c.read_text(where)
    section = c.read_int(where)
    defn, drop_stmt, copy_stmt = c.read_text(where), c.read_text(where), c.read_text(where)
    namespace, tablespace, tableam = c.read_text(where), c.read_text(where), c.read_text(where)
    relkind = c.read_int(where) if version[:2] >= (1, 16) else None
    owner = c.read_text(where)
    c.read_str(where)  # "false": WITH OIDS, no longer written as true
    dependencies = _dependencies(c, dump_id)
    data_state, data_offset = c.read_offset(where)
    return TocEntry(
        dump_id=dump_id, had_dumper=had_dumper, table_oid=table_oid, oid=oid, tag=tag, desc=desc,
        section=section, defn=defn, drop_stmt=drop_stmt, copy_stmt=copy_stmt, namespace=namespace,
        tablespace=tablespace, tableam=tableam, relkind=relkind, owner=owner, dependencies=dependencies,
        data_state=data_state, data_offset=data_offset,
    )


def _toc(c: _Cursor, version: tuple[int, int, int]) -> tuple[TocEntry, ...]:
    """Int count, then that many entries."""
    count = c.read_int("TOC entry count")
    if not 0 <= count <= MAX_ENTRIES:
        raise IntegrityError(
            f"The archive claims {count} TOC entries; a real dump has at most {MAX_ENTRIES:,}. The TOC is corrupt."
        )
    return tuple(_entry(c, version, i) for i in range(count))


def _start(data: bytes | bytearray | memoryview) -> tuple[_Cursor, ArchiveHeader]:
    """A cursor past the header of a buffer holding at least the start of a custom-format archive."""
    buf = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    head = bytes(buf[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        raise IntegrityError(
            "This is not a pg_dump custom-format archive (it does not start with \"PGDMP\").",
            hint="Plain SQL dumps are restored with psql; tar and directory archives are not supported.",
        )
    c = _Cursor(buf)
    c.read_bytes(len(MAGIC), "signature")
    return c, _header(c)


def parse_header(data: bytes | bytearray | memoryview) -> ArchiveHeader:
    """Parse only the header: the first hundred or so bytes, which pg_dump writes before its TOC."""
    return _start(data)[1]


def parse_archive(data: bytes | bytearray | memoryview) -> Archive:
    """Parse the header and TOC from a buffer holding at least the start of a custom-format archive."""
    c, header = _start(data)
    toc = _toc(c, header.version)
    return Archive(header=header, toc=toc, toc_end=c.pos)


def read_archive(fp: BinaryIO) -> Archive:
    """Read the header and TOC from a file object, reading only as far as needed (at most 256 MiB).

    A seekable `fp` is read from its start (offsets in the archive are file positions) and left at
    `toc_end`; a stream is read from where it is and left wherever reading stopped.
    """
    seekable = fp.seekable()
    if seekable:
        fp.seek(0)
    buf = bytearray()
    want = PIECE
    while True:
        eof = _read_into(fp, buf, want - len(buf), "the archive")
        try:
            archive = parse_archive(buf)
        except ArchiveIncomplete as exc:
            if eof:
                raise IntegrityError(
                    f"The archive is truncated: it ends at byte {len(buf)}, before its table of contents does.",
                    hint="The file was cut short (an interrupted copy or a full disk while dumping).",
                ) from exc
            want = min(max(exc.needed, 2 * len(buf)), TOC_LIMIT)
            continue
        if seekable:
            fp.seek(archive.toc_end)
        return archive


def _read_into(fp: BinaryIO, buf: bytearray, n: int, where: str) -> bool:
    """Append up to n bytes from fp to buf; True if the end of the file came first."""
    while n > 0:
        try:
            piece = fp.read(min(n, 1 << 20))
        except OSError as exc:
            raise from_os_error("reading", where, exc) from exc
        if not piece:
            return True
        buf += piece
        n -= len(piece)
    return False


def _listed(entry: TocEntry, section: int) -> bool:
    """Whether `pg_restore --list` (default options) prints this entry: _tocEntryRequired's rules."""
    if entry.desc in ("ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE", "DATABASE PROPERTIES"):
        return False
    if section not in (_SECTION_PRE_DATA, _SECTION_DATA, _SECTION_POST_DATA):
        return False
    statistics = entry.desc == "STATISTICS DATA"
    if entry.tag.startswith("DATABASE ") and (entry.desc in _LARGE_OBJECT_TAGGED_DESCS or statistics):
        return False
    if entry.desc == "<Init>" and entry.tag == "Max OID":
        return False
    if statistics:
        return True
    data = entry.had_dumper or entry.desc in _LARGE_OBJECT_DATA_DESCS or (
        entry.desc in _LARGE_OBJECT_TAGGED_DESCS and entry.tag.startswith("LARGE OBJECT")
    )
    schema = entry.defn != "" and not entry.defn.startswith("-- load via partition root ")
    return data or schema


def listing_lines(archive: Archive) -> list[str]:
    """The TOC lines `pg_restore --list` prints: "dumpId; tableoid oid desc schema tag owner"."""
    lines = []
    section = _SECTION_PRE_DATA
    for entry in archive.toc:
        if entry.section != _NONE_SECTION:
            section = entry.section
        if _listed(entry, section):
            tag, schema, owner = (
                s.replace("\n", " ").replace("\r", " ") for s in (entry.tag, entry.namespace or "-", entry.owner)
            )
            lines.append(f"{entry.dump_id}; {entry.table_oid} {entry.oid} {entry.desc} {schema} {tag} {owner}")
    return lines


class _BlockReader:
    """Reads archive primitives from the data-block stream through a read-ahead buffer, tracking the offset.

    `pg_dump -Z0` writes one chunk per table row, so per-primitive file reads would dominate;
    the buffer makes each primitive a slice. Every byte read is also handed to `tap`, if given,
    as it was, except that with `reframe` each run from `chunk_run` goes to it as one chunk.
    """

    def __init__(self, fp: BinaryIO, archive: Archive, tap: Callable[[bytes], object] | None = None,
                 reframe: bool = False) -> None:
        self.fp = fp
        self.pos = archive.toc_end
        self.int_size = archive.header.int_size
        self.tap = tap
        self.reframe = reframe
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
        run = strip_headers(self._data, self._off, len(self._data))
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
    consumer that stops early never loses the stream's place: `_walk` drains the rest.
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

    def __iter__(self) -> _Payload:
        return self

    def __next__(self) -> bytes:
        """The next piece of payload: consecutive small chunks are joined, up to PIECE bytes."""
        reader, what = self._reader, self._what
        pieces: list[bytes] = []
        size = 0
        while size < PIECE:
            if not self._left:
                if self._done or (self._bulk and pieces):
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
            self._in_object = reader.read_int(what) != 0  # the next large object's OID, 0 at the end
            self._done = not self._in_object
            return
        length = reader.read_int(what)
        if length < 0:
            raise IntegrityError(f"The archive's {what} declares a negative chunk length ({length}).")
        if length == 0:
            self._in_object = False
            self._done = not self._large_objects
        self._left = length


def _walk(fp: BinaryIO, archive: Archive, tap: Callable[[bytes], object] | None = None,
          reframe: bool = False) -> Iterator[tuple[int, int, Iterator[bytes]]]:
    """Yield (dump_id, block_type, payload pieces) per data block; unread payload is skipped afterwards.

    `tap` and `reframe` are the _BlockReader's: every byte after the TOC also goes to `tap`.
    """
    if fp.seekable():
        fp.seek(archive.toc_end)
    entries = {entry.dump_id: entry for entry in archive.toc}
    reader = _BlockReader(fp, archive, tap, reframe)
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
        for _ in pieces:
            pass


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
    c = _Cursor(tail)
    c.int_size, c.off_size = archive.header.int_size, archive.header.off_size
    try:
        copy = _toc(c, archive.header.version)
    except IntegrityError:
        return False
    without_offsets = [replace(e, data_state=0, data_offset=0) for e in archive.toc]
    return c.pos == len(tail) and [replace(e, data_state=0, data_offset=0) for e in copy] == without_offsets


def iter_data_blocks(fp: BinaryIO, archive: Archive) -> Iterator[DataBlock]:
    """Walk the data blocks after the TOC in stream order, in bounded memory; stop cleanly at EOF.

    A seekable `fp` is first moved to `archive.toc_end`; a stream must already be there. A torn
    or unknown block, a block the TOC lacks or one not at its TOC offset raises IntegrityError.
    """
    for dump_id, block_type, pieces in _walk(fp, archive):
        length = sum(len(piece) for piece in pieces)
        yield DataBlock(dump_id=dump_id, block_type=block_type, compressed_length=length)


def _decompressed(pieces: Iterator[bytes], compression: str, what: str) -> Iterator[bytes]:
    """Decompress a block's payload in pieces of at most PIECE bytes of output."""
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
                    yield inflater.decompress(data, PIECE)
                    data = inflater.unconsumed_tail
            if seen and not inflater.eof:
                raise IntegrityError(f"The compressed stream of {what} ends early: the archive is damaged.")
        except zlib.error as exc:
            raise IntegrityError(f"The compressed data of {what} does not decompress.", detail=str(exc)) from exc
    else:
        yield from _unzstd(pieces, what)


def _unzstd(pieces: Iterator[bytes], what: str) -> Iterator[bytes]:
    """Decompress zstd frames (as pg_dump's ZSTD_decompressStream does, one after another).

    Input goes in slices of ZSTD_SLICE bytes, so one call yields at most ~32 MiB even for data
    that expands as far as zstd allows; `eof` at the end proves the last frame is whole.
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
    np = load_numpy()
    return int(np.count_nonzero(np.frombuffer(data, np.uint8, len(data) - start, start) == NEWLINE))


def count_copy_rows(fp: BinaryIO, archive: Archive, forward: Callable[[bytes], object] | None = None) -> dict[int, int]:
    """Map each TABLE DATA entry's dump ID to its number of COPY rows, decompressing in bounded memory.

    Every byte after the TOC also goes to `forward`, if given, in order; runs of small chunks as one
    large chunk each, unless the TOC records data offsets, which that would move.
    Raises UnsupportedError for lz4 archives and IntegrityError when a TABLE DATA block is missing.
    """
    compression = archive.header.compression
    if compression == "lz4":
        raise UnsupportedError(
            "This archive's data is compressed with lz4, which this release cannot decompress.",
            hint="Dump with the default (gzip) or --compress=zstd instead.",
        )
    entries = {entry.dump_id: entry for entry in archive.toc}
    counts: dict[int, int] = {}
    reframe = forward is not None and all(entry.data_state != OFFSET_SET for entry in archive.toc)
    for dump_id, block_type, pieces in _walk(fp, archive, forward, reframe):
        entry = entries[dump_id]
        if block_type == BLOCK_DATA and entry.desc == "TABLE DATA":
            counts[dump_id] = _count_rows(_decompressed(pieces, compression, f"TOC entry {dump_id} ({entry.tag})"))
    missing = [
        e.dump_id for e in archive.toc
        if e.desc == "TABLE DATA" and e.had_dumper and e.data_state != OFFSET_NO_DATA and e.dump_id not in counts
    ]
    if missing:
        raise IntegrityError(
            f"The archive ends without the data of {len(missing)} table(s) its TOC lists (dump IDs "
            f"{', '.join(map(str, missing[:10]))}{', …' if len(missing) > 10 else ''}).",
            hint="The file was probably cut short at a block boundary.",
        )
    return counts
