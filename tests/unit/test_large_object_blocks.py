"""Large objects out of BLOBS blocks (data_blocks.large_objects, forensics/large_objects), no server needed:
the sample dumps' object, and hand-built archives for what real dumps rarely hold."""

from __future__ import annotations

import io
import os
import stat
import zlib
from pathlib import Path

import pytest

from recovery_console.engine.archive import data_blocks
from recovery_console.engine.archive import pgarchive as pa
from recovery_console.engine.archive.table_data import block_text
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.engine.progress import Reporter
from recovery_console.errors import IntegrityError, NotFoundError, UsageError
from tests.unit.test_pgarchive import build, build_block, build_entry, pg_int

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = sorted(p.name for p in DATA.glob("sample-pg*.dump"))
HELLO = b"hello from a large object"  # tests/data/sample_schema.sql


def objects(data: bytes) -> list[tuple[int, bytes]]:
    archive = pa.parse_archive(data)
    found = []
    for _dump_id, block_type, pieces in data_blocks.walk(io.BytesIO(data), archive):
        if block_type == data_blocks.BLOCK_BLOBS:
            for obj in data_blocks.large_objects(pieces):
                found.append((obj.oid, b"".join(block_text(obj.pieces, archive.header.compression, "test"))))
    return found


def blobs_block(dump_id: int, items: list[tuple[int, list[bytes]]]) -> bytes:
    """A BLOBS block: type 3, Int dumpId, then per object Int oid and its chunks ending in Int 0; Int 0 at the end."""
    body = b"".join(pg_int(oid) + b"".join(pg_int(len(c)) + c for c in chunks) + pg_int(0) for oid, chunks in items)
    return bytes([data_blocks.BLOCK_BLOBS]) + pg_int(dump_id) + body + pg_int(0)


def archive_with(items: list[tuple[int, list[bytes]]], compression: str = "none") -> bytes:
    entries = [build_entry(1, "TABLE DATA", "t"), build_entry(2, "BLOBS", "BLOBS", namespace=None)]
    return build(entries, [build_block(1, [b"1\n"]), blobs_block(2, items)],
                 compression=compression)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_dump_holds_its_large_object(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert objects(data) == [(424242, HELLO)]
    archive = pa.parse_archive(data)
    # what walk's other callers see does not change for reading objects out of the block
    assert [b.dump_id for b in data_blocks.iter_data_blocks(io.BytesIO(data), archive)] == \
        [d for d, _t, _p in data_blocks.walk(io.BytesIO(data), archive)]


def test_objects_keep_their_boundaries_and_an_unread_object_is_skipped() -> None:
    zipped = [zlib.compress(b"x" * 70_000), zlib.compress(b""), zlib.compress(bytes(range(256)))]
    data = archive_with([(5, [zipped[0][:10], zipped[0][10:]]), (6, [zipped[1]]), (7, [zipped[2]])], "gzip")
    assert objects(data) == [(5, b"x" * 70_000), (6, b""), (7, bytes(range(256)))]
    archive = pa.parse_archive(data)
    seen = []
    for _dump_id, block_type, pieces in data_blocks.walk(io.BytesIO(data), archive):
        if block_type == data_blocks.BLOCK_BLOBS:
            seen += [obj.oid for obj in data_blocks.large_objects(pieces)]  # no object's data read
    assert seen == [5, 6, 7]


def test_an_oid_above_2_31_written_as_a_negative_int_is_read_back() -> None:
    data = archive_with([(-(2**32 - 3_000_000_000), [b"big"])])
    assert objects(data) == [(3_000_000_000, b"big")]


def test_a_damaged_chunk_length_names_its_byte() -> None:
    good = archive_with([(5, [b"abc"])])
    at = good.index(pg_int(5) + pg_int(3)) + 5  # the chunk length after the OID
    damaged = good[:at] + b"\x07" + good[at + 1:]
    with pytest.raises(IntegrityError, match=f"at byte {at} has an invalid sign byte"):
        objects(damaged)
    negative = good[:at] + b"\x01" + good[at + 1:]
    with pytest.raises(IntegrityError, match=f"negative chunk length \\(-3\\) at byte {at}"):
        objects(negative)


def test_export_writes_files_0600_in_a_new_0700_folder_and_refuses_to_overwrite(console, tmp_path) -> None:
    bench = Workbench(console)
    ref = bench.locate(str(DATA / "sample-pg17.dump"))
    out = tmp_path / "objects"
    items = bench.export_large_objects(ref, str, out, reporter=Reporter())
    assert [(i.oid, i.path.read_bytes()) for i in items] == [(424242, HELLO)]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700 and stat.S_IMODE(os.stat(items[0].path).st_mode) == 0o600
    with pytest.raises(UsageError, match="already holds 1 file named like"):
        bench.export_large_objects(ref, str, out)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is not a folder"):
        bench.export_large_objects(ref, str, tmp_path / "file")
    with pytest.raises(UsageError, match="does not exist"):
        bench.export_large_objects(ref, str, tmp_path / "no" / "such")
    (tmp_path / "link").symlink_to(out)
    with pytest.raises(UsageError, match="is a symbolic link"):
        bench.export_large_objects(ref, str, tmp_path / "link")


def test_an_archive_without_large_objects_makes_no_folder(console, tmp_path) -> None:
    bench = Workbench(console)
    assert bench.tables(bench.locate(str(DATA / "diff-a.dump")), str).large_objects == 0
    assert bench.tables(bench.locate(str(DATA / "sample-pg15.dump")), str).large_objects == 1
    with pytest.raises(NotFoundError, match="holds no large objects"):
        bench.export_large_objects(bench.locate(str(DATA / "diff-a.dump")), str, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_large_object_data_the_toc_does_not_count_is_still_reported(console, tmp_path) -> None:
    dump = tmp_path / "uncounted.dump"
    dump.write_bytes(archive_with([(5, [b"a"])]))  # a BLOBS entry, no BLOB or BLOB METADATA entries
    bench = Workbench(console)
    assert bench.tables(bench.locate(str(dump)), str).large_objects is None
    assert [i.oid for i in bench.export_large_objects(bench.locate(str(dump)), str, tmp_path / "out")] == [5]
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "5").symlink_to(tmp_path / "nowhere")  # no TOC name to check first: refused on writing
    with pytest.raises(UsageError, match="already exists; it was not replaced"):
        bench.export_large_objects(bench.locate(str(dump)), str, tmp_path / "again")
    assert not (tmp_path / "nowhere").exists()


def test_a_cut_archive_is_refused_and_leaves_only_whole_files(console, tmp_path) -> None:
    data = archive_with([(5, [b"first"]), (6, [b"x" * 1000])])
    bench = Workbench(console)
    inside = tmp_path / "inside.dump"
    inside.write_bytes(data[:data.index(b"x" * 1000) + 500])
    with pytest.raises(IntegrityError, match=r"truncated: it ends at byte \d+, inside the data of TOC entry 2"):
        bench.export_large_objects(bench.locate(str(inside)), str, tmp_path / "a")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["5"]
    before = tmp_path / "before.dump"
    before.write_bytes(data[:data.index(bytes([data_blocks.BLOCK_BLOBS]) + pg_int(2))])
    with pytest.raises(IntegrityError, match="ends without 1 block of large objects"):
        bench.export_large_objects(bench.locate(str(before)), str, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_an_object_listed_twice_is_refused(console, tmp_path) -> None:
    dump = tmp_path / "twice.dump"
    dump.write_bytes(archive_with([(5, [b"a"]), (5, [b"b"])]))
    bench = Workbench(console)
    with pytest.raises(IntegrityError, match="large object 5 twice"):
        bench.export_large_objects(bench.locate(str(dump)), str, tmp_path / "out")
