"""The pg_dump custom-format reader against real dumps of PostgreSQL 15 to 18 and hand-built edge cases.

The samples in tests/data come from make_samples.sh (sample_schema.sql loaded, then pg_dump -Fc);
each `X.list` is that version's own `pg_restore --list` output.
"""

from __future__ import annotations

import errno
import io
import re
import zlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import zstandard

from recovery_console.engine.archive import cursor, data_blocks, rowcount
from recovery_console.engine.archive import pgarchive as pa
from recovery_console.errors import IntegrityError, StorageError, UnsupportedError

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO = Path(pa.__file__).resolve().parents[2] / "demo"

# name -> (archive version, compression, PostgreSQL major)
SAMPLES = {
    "sample-pg15": ((1, 14, 0), "gzip", 15),
    "sample-pg16": ((1, 15, 0), "gzip", 16),
    "sample-pg17": ((1, 16, 0), "gzip", 17),
    "sample-pg17-zstd": ((1, 16, 0), "zstd", 17),
    "sample-pg17-stdout": ((1, 16, 0), "gzip", 17),
    "sample-pg18": ((1, 16, 0), "gzip", 18),
    "sample-pg18-none": ((1, 16, 0), "none", 18),
}

# Facts from sample_schema.sql: rows inserted per table.
ROWS = {"customers": 37, "orders": 23, "attachments": 11, "empty_log": 0, "settings": 5}


def sample(name: str) -> bytes:
    return (DATA / f"{name}.dump").read_bytes()


def pg_restore_list(name: str) -> tuple[dict[str, str], list[str]]:
    """The header facts (from the ';' comment lines) and the entry lines of a stored --list output."""
    facts: dict[str, str] = {}
    lines = []
    for line in (DATA / f"{name}.list").read_text().splitlines():
        if not line.startswith(";"):
            if line:
                lines.append(line)
        elif m := re.match(r"; Archive created at (.*) UTC$", line):
            facts["created"] = m[1]
        elif m := re.match(r";\s+([^:]+): (.*)$", line):
            facts[m[1]] = m[2]
    return facts, lines


@pytest.fixture(params=sorted(SAMPLES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: no seek, no tell."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:
        return self._src.readinto(b)


# --- hand-built archives ---------------------------------------------------------------------


def pg_int(value: int, size: int = 4) -> bytes:
    """Int: sign byte, then the magnitude little-endian."""
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(size, "little")


def pg_str(value: str | bytes | None) -> bytes:
    """Str: Int length (-1 for NULL), then the bytes."""
    if value is None:
        return pg_int(-1)
    raw = value.encode() if isinstance(value, str) else value
    return pg_int(len(raw)) + raw


def build_header(
    version: tuple[int, int, int] = (1, 16, 0),
    compression: str = "none",
    int_size: int = 4,
    off_size: int = 8,
    fmt: int = 1,
    created: tuple[int, ...] = (5, 4, 3, 2, 0, 124, 0),
    level: int | None = None,
) -> bytes:
    """Magic, version, sizes, format, compression (a byte from 1.15, an Int level before), time, names."""
    out = b"PGDMP" + bytes([*version, int_size, off_size, fmt])
    if version[:2] >= (1, 15):
        out += bytes([{"none": 0, "gzip": 1, "lz4": 2, "zstd": 3}[compression]])
    else:
        out += pg_int(level if level is not None else (0 if compression == "none" else -1))
    out += b"".join(pg_int(v) for v in created)
    return out + pg_str("synthetic") + pg_str("17.0") + pg_str("17.0 (test)")


def build_entry(
    dump_id: int,
    desc: str = "TABLE DATA",
    tag: str = "t",
    *,
    version: tuple[int, int, int] = (1, 16, 0),
    had_dumper: bool = True,
    section: int = 3,
    defn: str | None = "",
    namespace: str | None = "public",
    owner: str | None = "alice",
    relkind: int = 0,
    deps: tuple[bytes | str, ...] = (),
    state: int = 1,
    offset: int = 0,
) -> bytes:
    """One TOC entry in ReadToc's field order (relkind only from archive 1.16)."""
    out = pg_int(dump_id) + pg_int(int(had_dumper)) + pg_str("0") + pg_str("16384") + pg_str(tag) + pg_str(desc)
    out += pg_int(section) + pg_str(defn) + pg_str("") + pg_str(f"COPY {tag} FROM stdin;\n")
    out += pg_str(namespace) + pg_str("") + pg_str("heap")
    if version[:2] >= (1, 16):
        out += pg_int(relkind)
    out += pg_str(owner) + pg_str("false") + b"".join(pg_str(d) for d in deps) + pg_str(None)
    return out + bytes([state]) + offset.to_bytes(8, "little")


def build_block(dump_id: int, chunks: list[bytes], block_type: int = 1) -> bytes:
    """A data block: type byte, Int dumpId, (Int length, bytes)*, Int 0."""
    return bytes([block_type]) + pg_int(dump_id) + b"".join(pg_int(len(c)) + c for c in chunks) + pg_int(0)


def build(entries: list[bytes], blocks: list[bytes] = (), **header_args) -> bytes:
    """A whole archive: header, Int count, entries, data blocks."""
    return build_header(**header_args) + pg_int(len(entries)) + b"".join(entries) + b"".join(blocks)


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- real dumps ---------------------------------------------------------------------------------


def test_header_matches_pg_restore(name: str) -> None:
    version, compression, major = SAMPLES[name]
    facts, _ = pg_restore_list(name)
    h = pa.parse_archive(sample(name)).header
    assert h.version == version
    assert h.version_str == f"{version[0]}.{version[1]}"
    assert facts["Dump Version"] == f"{version[0]}.{version[1]}-{version[2]}"
    assert (h.int_size, h.off_size, h.format) == (4, 8, 1)
    assert facts["Integer"] == "4 bytes" and facts["Offset"] == "8 bytes" and facts["Format"] == "CUSTOM"
    assert h.compression == compression
    # archive 1.14 stores a gzip level: pg_dump's default is -1 (Z_DEFAULT_COMPRESSION)
    assert facts["Compression"] == ("-1" if version[:2] == (1, 14) else compression)
    assert h.dbname == facts["dbname"] == "recovery_sample"
    assert h.server_version == facts["Dumped from database version"]
    assert h.dump_version == facts["Dumped by pg_dump version"]
    assert h.server_version.startswith(f"{major}.") and h.dump_version.startswith(f"{major}.")
    # make_samples.sh runs pg_dump and pg_restore with TZ=UTC, so the local time stored is UTC
    assert h.created == datetime.strptime(facts["created"], "%Y-%m-%d %H:%M:%S")


def test_toc_matches_pg_restore_list_line_for_line(name: str) -> None:
    facts, lines = pg_restore_list(name)
    archive = pa.parse_archive(sample(name))
    assert len(archive.toc) == int(facts["TOC Entries"])
    assert pa.listing_lines(archive) == lines


def test_object_counts(name: str) -> None:
    version = SAMPLES[name][0]
    counts = pa.parse_archive(sample(name)).object_counts()
    large_object = {"BLOB METADATA": 1} if version[:2] >= (1, 16) else {"BLOB": 1}
    assert counts == {
        "ENCODING": 1, "STDSTRINGS": 1, "SEARCHPATH": 1, "DATABASE": 1, "SCHEMA": 2, "FUNCTION": 1,
        "TABLE": 5, "SEQUENCE": 2, "COMMENT": 1, "VIEW": 1, "SEQUENCE OWNED BY": 1, "DEFAULT": 1,
        "TABLE DATA": 5, "SEQUENCE SET": 2, "BLOBS": 1, "CONSTRAINT": 4, "INDEX": 1, "FK CONSTRAINT": 1,
        **large_object,
    }


def test_entry_fields(name: str) -> None:
    archive = pa.parse_archive(sample(name))
    by_key = {(e.desc, e.namespace, e.tag): e for e in archive.toc}
    table = by_key["TABLE", "shop", "customers"]
    data = by_key["TABLE DATA", "shop", "customers"]
    assert table.owner == "postgres" and table.table_oid == "1259" and table.oid == data.oid
    assert table.defn.startswith("CREATE TABLE shop.customers") and table.tableam == "heap"
    assert data.had_dumper and not table.had_dumper and data.section == 3 and table.section == 2
    assert data.copy_stmt.startswith("COPY shop.customers (id, name, balance, joined) FROM stdin;")
    assert data.dependencies == (table.dump_id,)
    assert by_key["COMMENT", "shop", "TABLE customers"].defn.startswith("COMMENT ON TABLE shop.customers IS")
    assert by_key["SCHEMA", "", "shop"].namespace == ""
    if archive.header.version[:2] >= (1, 16):
        assert table.relkind == ord("r")
        assert by_key["VIEW", "shop", "big_customers"].relkind == ord("v")
        # pg_dump records relkind for tables and views only; sequences and data entries get 0
        assert by_key["SEQUENCE", "audit", "event_seq"].relkind == 0
        assert data.relkind == 0
    else:
        assert {e.relkind for e in archive.toc} == {None}
    stdout = name == "sample-pg17-stdout"
    for e in archive.toc:
        if e.had_dumper:
            assert e.data_state == (cursor.OFFSET_NOT_SET if stdout else cursor.OFFSET_SET)
            assert stdout or e.data_offset >= archive.toc_end
        else:
            assert e.data_state == cursor.OFFSET_NO_DATA


def test_read_archive_reads_incrementally_and_leaves_the_file_at_toc_end(name: str, tmp_path: Path) -> None:
    data = sample(name)
    path = tmp_path / "big.dump"
    path.write_bytes(data + b"\0" * (4 << 20))  # trailing bytes read_archive must not touch

    class Counting(io.FileIO):
        read_total = 0

        def read(self, size: int = -1) -> bytes:
            out = super().read(size)
            Counting.read_total += len(out)
            return out

    with Counting(path, "rb") as fp:
        archive = pa.read_archive(fp)
        assert fp.tell() == archive.toc_end
    assert archive == pa.parse_archive(data)
    assert Counting.read_total <= max(pa.FIRST_READ, 2 * archive.toc_end)


def test_read_archive_from_a_stream(name: str) -> None:
    data = sample(name)
    assert pa.read_archive(io.BufferedReader(NonSeekable(data), 7)) == pa.parse_archive(memoryview(data))


def test_data_blocks_cover_every_data_entry(name: str) -> None:
    data = sample(name)
    archive = pa.parse_archive(data)
    blocks = list(data_blocks.iter_data_blocks(io.BytesIO(data), archive))
    by_id = {e.dump_id: e for e in archive.toc}
    assert sorted(b.dump_id for b in blocks if b.block_type == 1) == sorted(
        e.dump_id for e in archive.toc if e.desc == "TABLE DATA"
    )
    assert [by_id[b.dump_id].desc for b in blocks if b.block_type == 3] == ["BLOBS"]
    assert all(b.compressed_length > 0 for b in blocks)  # even an empty table's block holds "\.\n"
    if by_id[blocks[0].dump_id].data_state == cursor.OFFSET_SET:
        assert all(by_id[b.dump_id].data_offset >= archive.toc_end for b in blocks)


def test_data_blocks_from_a_stream_positioned_at_toc_end(name: str) -> None:
    data = sample(name)
    archive = pa.parse_archive(data)
    stream = io.BufferedReader(NonSeekable(data[archive.toc_end :]), 100)
    expected = list(data_blocks.iter_data_blocks(io.BytesIO(data), archive))
    assert list(data_blocks.iter_data_blocks(stream, archive)) == expected


def test_count_copy_rows_gives_the_rows_of_sample_schema(name: str) -> None:
    data = sample(name)
    archive = pa.parse_archive(data)
    counts = rowcount.count_copy_rows(io.BytesIO(data), archive)
    tags = {e.dump_id: e.tag for e in archive.toc}
    assert {tags[dump_id]: rows for dump_id, rows in counts.items()} == ROWS


@pytest.mark.parametrize("read_ahead", [1, 5, 6, 7, 64, 1000, 4096])
def test_rows_and_blocks_do_not_depend_on_where_the_read_ahead_buffer_ends(read_ahead, monkeypatch) -> None:
    """The buffered fast path over -Z0's one-chunk-per-row data must agree with the chunk-by-chunk path."""
    data = sample("sample-pg18-none")
    archive = pa.parse_archive(data)
    expected_blocks = list(data_blocks.iter_data_blocks(io.BytesIO(data), archive))
    expected_rows = rowcount.count_copy_rows(io.BytesIO(data), archive)
    monkeypatch.setattr(data_blocks, "READ_AHEAD", read_ahead)
    assert list(data_blocks.iter_data_blocks(io.BytesIO(data), archive)) == expected_blocks
    assert rowcount.count_copy_rows(io.BytesIO(data), archive) == expected_rows
    with pytest.raises(IntegrityError, match="truncated"):
        rowcount.count_copy_rows(io.BytesIO(data[: archive.toc_end + (len(data) - archive.toc_end) // 2]), archive)


def test_truncated_header_or_toc_is_incomplete() -> None:
    """Every cut inside the header and TOC of pg17 (archive 1.16), and every 13th of the others."""
    for name in SAMPLES:
        data = sample(name)
        toc_end = pa.parse_archive(data).toc_end
        step = 1 if name == "sample-pg17" else 13
        for cut in [*range(0, 120), *range(120, toc_end, step)]:
            with pytest.raises(cursor.ArchiveIncomplete) as info:
                pa.parse_archive(data[:cut])
            assert cut < info.value.needed <= toc_end


def test_parse_header_needs_only_the_header_and_agrees_with_parse_archive() -> None:
    for name in SAMPLES:
        data = sample(name)
        header = pa.parse_archive(data).header
        end = next(n for n in range(len(data)) if _parses_header(data[:n]))
        assert pa.parse_header(data[:end]) == header
        with pytest.raises(cursor.ArchiveIncomplete) as info:
            pa.parse_header(data[: end - 1])
        assert info.value.needed == end
        assert end < pa.parse_archive(data).toc_end


def _parses_header(data: bytes) -> bool:
    try:
        pa.parse_header(data)
    except cursor.ArchiveIncomplete:
        return False
    return True


def test_read_archive_on_a_truncated_file_is_an_integrity_error_not_incomplete() -> None:
    data = sample("sample-pg16")
    toc_end = pa.parse_archive(data).toc_end
    for cut in (0, 3, 40, toc_end // 2, toc_end - 1):
        with pytest.raises(IntegrityError, match="truncated") as info:
            pa.read_archive(io.BytesIO(data[:cut]))
        assert not isinstance(info.value, cursor.ArchiveIncomplete)


def test_newer_archive_version_is_unsupported() -> None:
    data = bytearray(sample("sample-pg18"))
    data[5:8] = bytes([1, 17, 0])
    with pytest.raises(UnsupportedError, match=r"1\.17.*1\.14 to 1\.16") as info:
        pa.parse_archive(data)
    assert "newer PostgreSQL" in info.value.hint
    with pytest.raises(UnsupportedError):  # decided from major and minor alone
        pa.parse_archive(bytes(data[:7]))


def test_older_archive_version_is_unsupported() -> None:
    data = bytearray(sample("sample-pg15"))
    data[5:8] = bytes([1, 13, 0])
    with pytest.raises(UnsupportedError, match=r"1\.13") as info:
        pa.parse_archive(data)
    assert "older" in info.value.hint


@pytest.mark.parametrize(
    "data",
    [b"--\n-- PostgreSQL database dump\n--\n", b"PGDMX" + bytes(100), b"\x1f\x8b\x08\x00", b"\0"],
)
def test_not_a_dump(data: bytes) -> None:
    with pytest.raises(IntegrityError, match="not a pg_dump custom-format archive"):
        pa.parse_archive(data)
    with pytest.raises(IntegrityError, match="not a pg_dump custom-format archive"):
        pa.read_archive(io.BytesIO(data))


@pytest.mark.parametrize(("fmt", "word"), [(3, "tar"), (5, "directory"), (0, "unknown")])
def test_other_formats_are_unsupported(fmt: int, word: str) -> None:
    data = bytearray(sample("sample-pg17"))
    data[10] = fmt
    with pytest.raises(UnsupportedError, match=f"{word}.*Tar and directory archives are not supported"):
        pa.parse_archive(data)


def test_demo_archives_ship_and_parse() -> None:
    assert (DEMO / "sample.dump").read_bytes() == sample("sample-pg15")
    assert (DEMO / "sample-pg17.dump").read_bytes() == sample("sample-pg17")
    assert pa.parse_archive((DEMO / "sample.dump").read_bytes()).header.version_str == "1.14"


def test_redirected_stdout_dump_has_its_toc_appended_after_the_data() -> None:
    """PG16+ `pg_dump -Fc > file`: offsets unset in the TOC, the TOC again (with offsets) at the end."""
    data = sample("sample-pg17-stdout")
    archive = pa.parse_archive(data)
    blocks = list(data_blocks.iter_data_blocks(io.BytesIO(data), archive))
    data_end = archive.toc_end + sum(6 + b.compressed_length for b in blocks)
    assert len(data) > data_end + archive.toc_end // 2  # a whole second TOC follows the blocks
    damaged = bytearray(data)
    damaged[-20] ^= 0xFF  # the trailing copy no longer repeats the TOC: it is garbage
    with pytest.raises(IntegrityError, match="unknown data block type"):
        list(data_blocks.iter_data_blocks(io.BytesIO(bytes(damaged)), archive))
    with pytest.raises(IntegrityError):
        list(data_blocks.iter_data_blocks(io.BytesIO(data + b"\0"), archive))


def test_torn_and_trailing_data_blocks() -> None:
    data = sample("sample-pg18")
    archive = pa.parse_archive(data)
    with pytest.raises(IntegrityError, match="truncated"):
        list(data_blocks.iter_data_blocks(io.BytesIO(data[:-3]), archive))
    with pytest.raises(IntegrityError, match="unknown data block type"):
        list(data_blocks.iter_data_blocks(io.BytesIO(data + b"\x07junk"), archive))
    first = min(e.data_offset for e in archive.toc if e.data_state == cursor.OFFSET_SET)
    # cut cleanly before the first block: iteration just ends, but row counting notices
    assert list(data_blocks.iter_data_blocks(io.BytesIO(data[:first]), archive)) == []
    with pytest.raises(IntegrityError, match="ends without the data of 5 table"):
        rowcount.count_copy_rows(io.BytesIO(data[:first]), archive)


def test_data_block_not_where_the_toc_says() -> None:
    data = sample("sample-pg17")
    archive = pa.parse_archive(data)
    moved = tuple(replace(e, data_offset=e.data_offset + 1) if e.had_dumper else e for e in archive.toc)
    with pytest.raises(IntegrityError, match="but the TOC says"):
        list(data_blocks.iter_data_blocks(io.BytesIO(data), replace(archive, toc=moved)))


def test_lz4_rows_are_unsupported() -> None:
    data = bytearray(sample("sample-pg17"))
    data[11] = 2  # the 1.15+ compression byte: lz4
    archive = pa.parse_archive(data)
    assert archive.header.compression == "lz4"
    with pytest.raises(UnsupportedError, match="lz4"):
        rowcount.count_copy_rows(io.BytesIO(data), archive)


def test_read_errors_become_storage_errors() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(StorageError):
        pa.read_archive(Failing())


# --- hand-built edge cases --------------------------------------------------------------------


@pytest.mark.parametrize(("level", "compression"), [(0, "none"), (-1, "gzip"), (1, "gzip"), (9, "gzip")])
def test_archive_1_14_stores_a_compression_level(level: int, compression: str) -> None:
    archive = pa.parse_archive(build([], version=(1, 14, 0), level=level))
    assert archive.header.compression == compression


@pytest.mark.parametrize("level", [10, -2, 1 << 20])
def test_impossible_compression_level(level: int) -> None:
    with pytest.raises(IntegrityError, match="compression level"):
        pa.parse_archive(build([], version=(1, 14, 0), level=level))


def test_unknown_compression_algorithm() -> None:
    data = bytearray(build([]))
    data[11] = 7
    with pytest.raises(IntegrityError, match="unknown compression algorithm"):
        pa.parse_archive(data)


def test_relkind_sits_between_tableam_and_owner_from_1_16() -> None:
    for version, relkind in (((1, 16, 0), ord("p")), ((1, 15, 0), None)):
        e = build_entry(3, "TABLE", "parted", version=version, relkind=ord("p"), had_dumper=False, defn="CREATE ...")
        archive = pa.parse_archive(build([e], version=version))
        (entry,) = archive.toc
        assert (entry.relkind, entry.tableam, entry.owner) == (relkind, "heap", "alice")
        assert archive.toc_end == len(build([e], version=version))


def test_null_strings_read_as_empty_and_list_like_pg_restore() -> None:
    entries = [
        build_entry(1, "SCHEMA", "s", namespace=None, had_dumper=False, section=2, defn="CREATE SCHEMA s;"),
        build_entry(2, "BLOBS", "BLOBS", namespace=None, owner=None, defn=None),
        build_entry(3, "ENCODING", "ENCODING", had_dumper=False, section=2, defn="SET client_encoding = 'UTF8';"),
        build_entry(4, "COMMENT", "DATABASE synthetic", had_dumper=False, section=1, defn="COMMENT ON ..."),
        build_entry(5, "TABLE", "two\nlines", had_dumper=False, section=2, defn="CREATE TABLE ..."),
        build_entry(6, "DEFAULT ACL", "x", had_dumper=False, section=4, defn=""),
        build_entry(7, "SEQUENCE SET", "seq", had_dumper=False, section=3, defn="SELECT setval(...)"),
    ]
    archive = pa.parse_archive(build(entries))
    assert archive.toc[1].owner == "" and archive.toc[1].defn == ""
    assert pa.listing_lines(archive) == [
        "1; 0 16384 SCHEMA - s alice",
        "2; 0 16384 BLOBS - BLOBS ",
        "5; 0 16384 TABLE public two lines alice",
        "7; 0 16384 SEQUENCE SET public seq alice",
    ]


def test_dependencies_and_created() -> None:
    archive = pa.parse_archive(build([build_entry(9, deps=("12", "7"))], created=(59, 30, 23, 31, 11, 125, 1)))
    assert archive.toc[0].dependencies == (12, 7)
    assert archive.header.created == datetime(2025, 12, 31, 23, 30, 59)
    assert pa.parse_archive(build([], created=(0, 0, 0, 31, 1, 124, 0))).header.created is None  # 31 February


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (build([build_entry(1, deps=("12x",))]), "not a number"),
        (build([build_entry(1, deps=("9" * 5000,))]), "not a number"),
        (build([build_entry(0)]), "impossible dump ID"),
        (build([build_entry(-4)]), "impossible dump ID"),
        (build([build_entry(1, state=9)]), "data-offset flag"),
        (build_header() + pg_int(10_000_001), "claims 10000001 TOC entries"),
        (build_header() + pg_int(-1), "claims -1 TOC entries"),
        (build_header() + b"\x02" + bytes(4), "invalid sign byte"),
        (build_header() + pg_int(1) + pg_int(1) + pg_int(1) + pg_int(-2), "negative length"),
        (build_header() + pg_int(1) + pg_int(1) + pg_int(1) + pg_int(300 << 20), "past 256 MiB"),
        (build([], int_size=0), "0-byte integers"),
        (build([], int_size=9), "9-byte integers"),
        (build([], off_size=16), "16-byte offsets"),
    ],
)
def test_absurd_values_are_integrity_errors(data: bytes, message: str) -> None:
    with pytest.raises(IntegrityError, match=message) as info:
        pa.parse_archive(data)
    assert not isinstance(info.value, cursor.ArchiveIncomplete)


def test_long_string_within_the_cap_is_incomplete_and_read_archive_grows_for_it() -> None:
    head = build_header() + pg_int(1) + pg_int(1) + pg_int(1)
    with pytest.raises(cursor.ArchiveIncomplete) as info:
        pa.parse_archive(head + pg_int(100 << 20))
    assert info.value.needed == len(head) + 5 + (100 << 20)
    big = build([build_entry(1, "TABLE", "t", defn="x" * 300_000, had_dumper=False)])
    archive = pa.read_archive(io.BufferedReader(NonSeekable(big + bytes(1000))))
    assert len(archive.toc[0].defn) == 300_000 and archive.toc_end == len(big)


def test_eight_byte_ints() -> None:
    """intSize is the archive's choice (pg_dump writes sizeof(int)); every Int and Str length follows it."""
    size = 8

    def s8(v: str | None) -> bytes:
        return pg_int(-1, size) if v is None else pg_int(len(v), size) + v.encode()

    created = b"".join(pg_int(v, size) for v in (0, 0, 0, 1, 0, 124, 0))
    head = b"PGDMP" + bytes([1, 16, 0, size, 8, 1, 0]) + created + s8("db") + s8("x") + s8("y")
    fields = [pg_int(1, size), pg_int(1, size)] + [s8(v) for v in ("0", "2", "t", "TABLE DATA")]
    fields += [pg_int(3, size)] + [s8(v) for v in ("", "", "COPY t FROM stdin;\n", "public", "", "heap")]
    fields += [pg_int(0, size), s8("bob"), s8("false"), s8(None), bytes([3]) + bytes(8)]
    archive = pa.parse_archive(head + pg_int(1, size) + b"".join(fields))
    assert archive.header.int_size == 8 and archive.toc[0].owner == "bob" and archive.toc[0].tag == "t"


# --- row counting -----------------------------------------------------------------------------

COPY_DATA = b"1\tplain\n2\ttab\\there\n3\ta\\\\.\n4\t\\.x\n5\t\\N\n\n\\.\n\n\n"  # 6 rows: the empty line is one


def rows_of(payload_chunks: list[bytes], compression: str = "none") -> int:
    entries = [build_entry(1, tag="t")]
    data = build(entries, [build_block(1, payload_chunks)], compression=compression)
    return rowcount.count_copy_rows(io.BytesIO(data), pa.parse_archive(data))[1]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 1000])
def test_rows_are_counted_across_any_chunk_split(size: int) -> None:
    assert rows_of(split(COPY_DATA, size)) == 6
    assert rows_of(split(zlib.compress(COPY_DATA), size), "gzip") == 6
    assert rows_of(split(zstandard.ZstdCompressor().compress(COPY_DATA), size), "zstd") == 6


@pytest.mark.parametrize(
    ("payload", "rows"),
    [
        (b"", 0),
        (b"\\.\n\n\n", 0),
        (b"a\nb\nc\n", 3),  # no terminator: every complete line
        (b"a\nb", 1),  # an unterminated last line is not a row
        (b"a\n\\.\nafter\n", 1),  # nothing counts after the terminator
        (b"\\.x\n\\\\.\n", 2),
        (b"a\\\\b\nc\\t\n\\.\nafter\n", 2),  # escaped backslashes before the terminator in one piece
        (b"a\\\\b\nc\\t\nd\n", 3),
    ],
)
def test_row_counting_rules(payload: bytes, rows: int) -> None:
    assert rows_of([payload] if payload else []) == rows


def test_many_rows_and_several_zstd_frames() -> None:
    rows = b"".join(b"%d\trow %d\n" % (i, i) for i in range(50_000))
    frames = zstandard.ZstdCompressor().compress(rows) + zstandard.ZstdCompressor().compress(b"last\n\\.\n")
    assert rows_of(split(frames, 4096), "zstd") == 50_001
    assert rows_of(split(zlib.compress(rows), 7000), "gzip") == 50_000


def test_large_expansion_stays_bounded() -> None:
    rows = b"\n" * (20 << 20)  # 20 MiB of empty rows compresses to a few KiB
    assert rows_of([zstandard.ZstdCompressor(level=19).compress(rows)], "zstd") == 20 << 20
    assert rows_of([zlib.compress(rows, 9)], "gzip") == 20 << 20


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_broken_compressed_data(compression: str) -> None:
    whole = zlib.compress(COPY_DATA) if compression == "gzip" else zstandard.ZstdCompressor().compress(COPY_DATA)
    with pytest.raises(IntegrityError, match="ends early"):
        rows_of([whole[:-6]], compression)
    with pytest.raises(IntegrityError, match="does not decompress"):
        rows_of([b"\xff" * 40], compression)


def test_malformed_blocks() -> None:
    entries = [build_entry(1, tag="t")]
    cases = {
        "unknown data block type": build_block(1, [b"x\n"], block_type=2),
        "which its TOC lacks": build_block(77, [b"x\n"]),
        "negative chunk length": bytes([1]) + pg_int(1) + pg_int(-5),
        "invalid sign byte": bytes([1]) + pg_int(1) + b"\x05" + bytes(4),
    }
    for message, block in cases.items():
        data = build(entries, [block])
        with pytest.raises(IntegrityError, match=message):
            list(data_blocks.iter_data_blocks(io.BytesIO(data), pa.parse_archive(data)))


def test_large_object_blocks_are_walked_object_by_object() -> None:
    entries = [build_entry(1, tag="t"), build_entry(2, "BLOBS", "BLOBS", namespace=None)]
    objects = pg_int(1001) + pg_int(3) + b"abc" + pg_int(2) + b"de" + pg_int(0) + pg_int(1002) + pg_int(0) + pg_int(0)
    blocks = [bytes([3]) + pg_int(2) + objects, build_block(1, [b"1\n2\n"])]
    data = build(entries, blocks)
    archive = pa.parse_archive(data)
    blocks = list(data_blocks.iter_data_blocks(io.BytesIO(data), archive))
    assert blocks == [data_blocks.DataBlock(2, 3, 5), data_blocks.DataBlock(1, 1, 4)]
    assert rowcount.count_copy_rows(io.BytesIO(data), archive) == {1: 2}


# --- forwarding, with pg_dump -Z0's one-row chunks joined --------------------------------------


def forwarded(data: bytes) -> tuple[dict[int, int], bytes]:
    """Counts and the archive as count_copy_rows passes it on (the TOC goes ahead of it unchanged)."""
    archive = pa.parse_archive(data)
    out = bytearray()
    counts = rowcount.count_copy_rows(io.BytesIO(data), archive, out.extend)
    return counts, data[: archive.toc_end] + bytes(out)


def blocks_of(data: bytes) -> list[data_blocks.DataBlock]:
    return list(data_blocks.iter_data_blocks(io.BytesIO(data), pa.parse_archive(data)))


def without_offsets(data: bytes) -> bytes:
    """The archive as pg_dump writes it to a pipe: every data offset in the TOC "not set"."""
    archive = pa.parse_archive(data)
    size = archive.header.off_size
    toc = data[: archive.toc_end]
    for entry in archive.toc:
        if entry.data_state == cursor.OFFSET_SET:
            field = bytes([cursor.OFFSET_SET]) + entry.data_offset.to_bytes(size, "little")
            assert toc.count(field) == 1
            toc = toc.replace(field, bytes([cursor.OFFSET_NOT_SET]) + bytes(size))
    return toc + data[archive.toc_end :]


def test_forwarding_joins_each_run_of_chunks_into_one_and_keeps_everything_else() -> None:
    rows = [b"%d\trow %d\n" % (i, i) for i in range(3000)]
    objects = pg_int(1001) + pg_int(3) + b"abc" + pg_int(2) + b"de" + pg_int(0) + pg_int(0)
    entries = [build_entry(1, tag="t"), build_entry(2, "BLOBS", "BLOBS", namespace=None), build_entry(3, tag="u")]
    data = build(entries, [build_block(1, [*rows, b"\\.\n\n\n"]), bytes([3]) + pg_int(2) + objects,
                           build_block(3, [b"x\n"] * 10 + [b"part", b"ial\n"])])
    counts, out = forwarded(data)
    assert counts == {1: 3000, 3: 11}
    assert build_block(1, [b"".join(rows) + b"\\.\n\n\n"]) in out
    assert bytes([3]) + pg_int(2) + objects in out
    assert build_block(3, [b"x\n" * 10 + b"partial\n"]) in out
    assert rowcount.count_copy_rows(io.BytesIO(out), pa.parse_archive(out)) == counts
    assert blocks_of(out) == blocks_of(data)


def test_forwarding_a_real_uncompressed_dump_without_offsets() -> None:
    data = without_offsets(sample("sample-pg18-none"))
    counts, out = forwarded(data)
    archive = pa.parse_archive(out)
    assert archive == pa.parse_archive(data)
    assert rowcount.count_copy_rows(io.BytesIO(out), archive) == counts
    assert counts == rowcount.count_copy_rows(io.BytesIO(data), archive)
    assert blocks_of(out) == blocks_of(data)
    assert len(out) <= len(data) - 5 * (sum(ROWS.values()) - len(ROWS))  # a header per row, then one per table


@pytest.mark.parametrize("name", ["sample-pg18-none", "sample-pg15", "sample-pg17-stdout"])
def test_forwarding_keeps_the_bytes_where_offsets_are_set_or_chunks_are_compressed(name: str) -> None:
    data = sample(name)
    counts, out = forwarded(data)
    assert out == data
    assert counts == rowcount.count_copy_rows(io.BytesIO(data), pa.parse_archive(data))
