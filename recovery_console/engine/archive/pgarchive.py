"""A pure-Python reader of pg_dump custom-format archives' header and TOC (archive versions 1.14 to 1.16).

Layout (src/bin/pg_dump/pg_backup_archiver.c ReadHead/ReadToc, pg_backup_custom.c), in the
primitives of archive/cursor.py (Int, Str, Offset). Header: "PGDMP", major, minor, revision,
intSize, offSize, format; then the compression (1.14: Int level, 0 none else gzip, default -1;
1.15+: one algorithm byte), seven Ints of creation time (sec, min, hour, mday, mon 0-11, year-1900,
isdst), Str dbname, Str server version, Str pg_dump version. TOC: Int count, then per entry the
fields of `TocEntry` in order (relkind, an Int, only from 1.16 on, between tableam and owner), a Str
"false" (WITH OIDS), dependency Strs ending with a NULL Str, and the data Offset. Data blocks follow
the TOC (archive/data_blocks.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from recovery_console.engine.archive.cursor import TOC_LIMIT, ArchiveIncomplete, Cursor
from recovery_console.engine.io_protocols import ReadableStream, SeekableStream
from recovery_console.errors import IntegrityError, UnsupportedError, from_os_error

SUPPORTED_VERSIONS = ((1, 14), (1, 15), (1, 16))
MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
MAX_ENTRIES = 10_000_000
FIRST_READ = 64 << 10  # most headers and TOCs fit; read_archive reads more only when one does not

_FORMAT_NAMES = {0: "unknown", 1: "custom", 2: "files", 3: "tar", 4: "null", 5: "directory"}
_ALGORITHMS = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}
_SECTION_PRE_DATA, _SECTION_DATA, _SECTION_POST_DATA = 2, 3, 4
_NONE_SECTION = 1
_LARGE_OBJECT_DATA_DESCS = {"SEQUENCE SET", "BLOB", "BLOB METADATA"}
_LARGE_OBJECT_TAGGED_DESCS = {"ACL", "COMMENT", "SECURITY LABEL"}


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


def _created(c: Cursor) -> datetime | None:
    """The creation time: seven Ints of the dumping machine's local time (struct tm); None if impossible."""
    sec, minute, hour, mday, mon, year, _isdst = (c.read_int("creation time") for _ in range(7))
    try:
        return datetime(year + 1900, mon + 1, mday, hour, minute, sec)
    except (ValueError, OverflowError):
        return None


def _header(c: Cursor) -> ArchiveHeader:
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


def _dependencies(c: Cursor, dump_id: int) -> tuple[int, ...]:
    """Dump IDs written as decimal Strs, ended by a NULL Str."""
    deps = []
    while (dep := c.read_str(f"dependencies of entry {dump_id}")) is not None:
        if not (dep.isascii() and dep.isdigit() and len(dep) <= 10):
            raise IntegrityError(f"TOC entry {dump_id} lists a dependency that is not a number ({dep[:20]!r}).")
        deps.append(int(dep))
    return tuple(deps)


def _entry(c: Cursor, version: tuple[int, int, int], index: int) -> TocEntry:
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


def read_toc_entries(c: Cursor, version: tuple[int, int, int]) -> tuple[TocEntry, ...]:
    """Int count, then that many entries."""
    count = c.read_int("TOC entry count")
    if not 0 <= count <= MAX_ENTRIES:
        raise IntegrityError(
            f"The archive claims {count} TOC entries; a real dump has at most {MAX_ENTRIES:,}. The TOC is corrupt."
        )
    return tuple(_entry(c, version, i) for i in range(count))


def _start(data: bytes | bytearray | memoryview) -> tuple[Cursor, ArchiveHeader]:
    """A cursor past the header of a buffer holding at least the start of a custom-format archive."""
    buf = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    head = bytes(buf[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        raise IntegrityError(
            "This is not a pg_dump custom-format archive (it does not start with \"PGDMP\").",
            hint="Plain SQL dumps are restored with psql; tar and directory archives are not supported.",
        )
    c = Cursor(buf)
    c.read_bytes(len(MAGIC), "signature")
    return c, _header(c)


def parse_header(data: bytes | bytearray | memoryview) -> ArchiveHeader:
    """Parse only the header: the first hundred or so bytes, which pg_dump writes before its TOC."""
    return _start(data)[1]


def parse_archive(data: bytes | bytearray | memoryview) -> Archive:
    """Parse the header and TOC from a buffer holding at least the start of a custom-format archive."""
    c, header = _start(data)
    toc = read_toc_entries(c, header.version)
    return Archive(header=header, toc=toc, toc_end=c.pos)


def read_archive(fp: ReadableStream) -> Archive:
    """Read the header and TOC from a file object, reading only as far as needed (at most 256 MiB).

    A seekable `fp` is read from its start (offsets in the archive are file positions) and left at
    `toc_end`; a stream is read from where it is and left wherever reading stopped.
    """
    seekable = fp if isinstance(fp, SeekableStream) and fp.seekable() else None
    if seekable is not None:
        seekable.seek(0)
    buf = bytearray()
    want = FIRST_READ
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
        if seekable is not None:
            seekable.seek(archive.toc_end)
        return archive


def _read_into(fp: ReadableStream, buf: bytearray, n: int, where: str) -> bool:
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
