"""`export --blobs`: large objects read from real PG 14–18 dumps (17 groups them in several BLOBS entries; 15 and 17
in every compression their pg_dump writes), each file byte for byte what the server's `lo_get` returns."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.archive.rowcount import split_at_toc
from recovery_console.engine.console import Console
from recovery_console.engine.forensics.large_objects import stored_objects
from recovery_console.engine.forensics.source import open_source
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.engine.progress import Reporter
from recovery_console.errors import Cancelled, IntegrityError, NotFoundError, UsageError
from tests.fixtures.console import SECRET

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPRESSIONS = {14: ("gzip",), 15: ("none", "gzip"), 16: ("lz4",), 17: ("none", "gzip", "lz4", "zstd"),
                18: ("zstd",)}
FULL = (15, 17)  # also dumped without large objects, and data-only
CASES = [(major, compression) for major, names in COMPRESSIONS.items() for compression in names]
BIG_OID = 3_000_000_000  # above 2^31: pg_dump writes it as a negative Int
OBJECTS = f"""
SELECT lo_from_bytea(1001, '');
SELECT lo_from_bytea(1002, 'abc');
SELECT lo_from_bytea(1003, (SELECT decode(string_agg(md5(g::text), ''), 'hex') FROM generate_series(1, 80000) g));
SELECT lo_from_bytea(1004, (SELECT decode(string_agg(lpad(to_hex(b % 256), 2, '0'), ''), 'hex')
                            FROM generate_series(0, 1023) b));
SELECT lo_from_bytea({BIG_OID}, 'an OID above 2^31');
CREATE TABLE t (x int);
INSERT INTO t VALUES (1);
"""
MANY = 1001  # PG 17 puts at most 1000 large objects in one BLOBS entry


def _lo_contents(server, db: str) -> dict[int, bytes]:
    out = server.psql("SELECT oid, encode(lo_get(oid), 'hex') FROM pg_largeobject_metadata ORDER BY oid", db=db)
    return {int(oid): bytes.fromhex(data) for oid, data in (line.split("|") for line in out.split())}


@pytest.fixture(scope="module")
def lo_dumps(pg_server_factory, tmp_path_factory):
    """One dump per (major, compression) of a database of awkward large objects, with what the server holds."""
    folder = tmp_path_factory.mktemp("lo-dumps")
    made = {}
    for major, names in COMPRESSIONS.items():
        server = pg_server_factory.start(major)
        db = "large_objects_src"
        if db not in server.databases():
            server.createdb(db)
            server.psql(OBJECTS, db=db)
        expected = _lo_contents(server, db)
        for compression in names:
            path = folder / f"pg{major}-{compression}.dump"
            level = "0" if compression == "none" else compression if major >= 16 else "6"
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(path), *server.conn_args(db))
            made[major, compression] = (server, db, path, expected)
        if major not in FULL:
            continue
        made[major, "without"] = folder / f"pg{major}-without.dump"
        server.run("pg_dump", "-Fc", "-B", "-f", str(made[major, "without"]), *server.conn_args(db))
        made[major, "data-only"] = folder / f"pg{major}-data-only.dump"
        server.run("pg_dump", "-Fc", "--data-only", "-f", str(made[major, "data-only"]), *server.conn_args(db))
    return made


@pytest.mark.parametrize(("major", "compression"), CASES)
def test_each_large_object_is_what_lo_get_returns(console, lo_dumps, tmp_path, major, compression):
    _server, _db, dump, expected = lo_dumps[major, compression]
    assert len(expected[1003]) > 1 << 20 and set(expected[1004]) == set(range(256))
    out = tmp_path / "objects"
    items = Workbench(console).export_large_objects(console.locate(str(dump)), lambda: "", out)
    assert sorted(item.oid for item in items) == sorted(expected)
    assert sorted(p.name for p in out.iterdir()) == sorted(str(oid) for oid in expected)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    for item in items:
        assert item.path.read_bytes() == expected[item.oid]
        assert item.sha256 == hashlib.sha256(expected[item.oid]).hexdigest() and item.size == len(expected[item.oid])
        assert stat.S_IMODE(os.stat(item.path).st_mode) == 0o600
    entry = [e for e in console.audit.entries() if e.action == "forensics.export"][-1]
    assert entry.result == "ok" and entry.detail["large_objects"] is True
    assert {f["oid"]: f["sha256"] for f in entry.detail["files"]} == {i.oid: i.sha256 for i in items}

    with pytest.raises(UsageError, match="already holds 5 files"):
        Workbench(console).export_large_objects(console.locate(str(dump)), lambda: "", out)
    assert Workbench(console).tables(console.locate(str(dump)), lambda: "").large_objects == 5


@pytest.mark.parametrize("major", FULL)
def test_a_data_only_dump_counts_and_exports_its_large_objects(console, lo_dumps, tmp_path, major):
    expected = lo_dumps[major, "none"][3]
    dump = lo_dumps[major, "data-only"]
    bench = Workbench(console)
    assert bench.tables(console.locate(str(dump)), lambda: "").large_objects == 5  # pg_dump -a keeps their entries
    items = bench.export_large_objects(console.locate(str(dump)), lambda: "", tmp_path / "out")
    assert {item.oid: item.path.read_bytes() for item in items} == expected


def test_many_large_objects_in_several_blobs_entries_of_a_backup(console, pg17, make_backup, tmp_path):
    """Over 1000 objects: PG 17 splits them over two BLOBS blocks; read from an .enc, decrypted as a stream."""
    db = "many_large_objects"
    if db not in pg17.databases():
        pg17.createdb(db)
        pg17.psql(f"SELECT lo_from_bytea(0, convert_to('object ' || g, 'UTF8')) FROM generate_series(1, {MANY}) g",
                  db=db)
    dump = tmp_path / "many.dump"
    pg17.run("pg_dump", "-Fc", "--compress=zstd", "-f", str(dump), *pg17.conn_args(db))
    with open(dump, "rb") as fp:
        assert sum(e.desc == "BLOBS" for e in split_at_toc(fp)[0].toc) == 2
    enc = Path(console.storage("vault").location(make_backup(dump).key))
    with open_source(console.locate(str(enc)), lambda: SECRET, Reporter()) as source:
        read = {oid: b"".join(data) for oid, data in stored_objects(source)}
    assert read == _lo_contents(pg17, db) and len(read) == MANY


def test_the_cli_exports_a_backup_s_large_objects_and_lists_them_as_json(console, lo_dumps, make_backup, tmp_path,
                                                                        secret_file, capsys):
    _server, _db, dump, expected = lo_dumps[17, "gzip"]
    enc = Path(console.storage("vault").location(make_backup(dump).key))
    out = tmp_path / "objects"
    assert main(["export", str(enc), "--blobs", str(out), "--secret-key-file", str(secret_file), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["files"]
    assert {item["oid"]: Path(item["path"]).read_bytes() for item in printed} == expected
    assert all(item["sha256"] == hashlib.sha256(expected[item["oid"]]).hexdigest() for item in printed)
    entry = list(Console().audit.entries())[-1]
    assert entry.detail["output"] == str(out) and entry.detail["objects"] == len(expected)
    assert main(["tables", str(enc), "--secret-key-file", str(secret_file)]) == 0
    assert "Large objects: 5 " in capsys.readouterr().out


def test_no_large_objects_is_said_and_nothing_is_made(console, lo_dumps, tmp_path, capsys):
    out = tmp_path / "none"
    assert main(["export", str(lo_dumps[17, "without"]), "--blobs", str(out)]) == NotFoundError.exit_code
    assert "holds no large objects" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit, match="2"):
        main(["export", str(lo_dumps[15, "none"]), "--blobs", str(out), "--table", "public.t"])
    assert "not allowed with argument --blobs" in capsys.readouterr().err


def test_damage_names_the_byte_and_leaves_no_partial_file(console, lo_dumps, tmp_path):
    dump = lo_dumps[17, "gzip"][2]
    data = bytearray(dump.read_bytes())
    with open(dump, "rb") as fp:
        blobs = next(e for e in split_at_toc(fp)[0].toc if e.desc == "BLOBS")
    at = blobs.data_offset + 200  # inside the compressed data of the large object of over 1 MiB
    data[at:at + 16] = bytes(16)
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(IntegrityError, match=r"large object 1003 \(at byte [\d,]+ of the archive\)"):
        Workbench(console).export_large_objects(console.locate(str(damaged)), lambda: "", out)
    assert sorted(p.name for p in out.iterdir()) == ["1001", "1002"]
    assert [e for e in console.audit.entries() if e.action == "forensics.export"][-1].result == "failed"


def test_cancel_stops_between_objects_and_leaves_no_partial_file(console, lo_dumps, tmp_path):
    dump = lo_dumps[15, "gzip"][2]
    reporter = Reporter()
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        Workbench(console).export_large_objects(console.locate(str(dump)), lambda: "", out, reporter=reporter,
                                                on_file=lambda item: reporter.token.cancel())
    assert [p.name for p in out.iterdir()] == ["1001"]
    assert [e for e in console.audit.entries() if e.action == "forensics.export"][-1].result == "cancelled"
