"""The offline workbench against real dumps of PostgreSQL 14–18 with every compression their pg_dump writes.

For awkward data (NULLs, tabs, newlines, backslashes, quotes, commas, non-ASCII, bytea, jsonb, arrays)
the CSV export loaded back into the server with `COPY … FROM STDIN CSV HEADER` must give exactly the
table's rows (its header is the server's own), the COPY export must be what pg_restore sends, and
search must find a planted IOC at its row and column.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.forensics import table_walk
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import NotFoundError
from tests.fixtures.console import SECRET
from tests.fixtures.postgres import tool_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPRESSIONS = {14: ("none", "gzip"), 15: ("none", "gzip"), 16: ("none", "gzip", "lz4", "zstd"),
                17: ("none", "gzip", "lz4", "zstd"),
                18: ("none", "gzip", "lz4", "zstd")}
CASES = [(major, compression) for major, names in COMPRESSIONS.items() for compression in names]
IOC = "203.0.113.77"
SCHEMA = r"""
CREATE SCHEMA "Odd ""Schema"" x";
CREATE TABLE "Odd ""Schema"" x"."odd, table" (
    id integer PRIMARY KEY,
    t text,
    b bytea,
    j jsonb,
    a text[],
    n numeric(12,3),
    ts timestamptz,
    "Mixed Case, ""col"" z" varchar(40)
);
INSERT INTO "Odd ""Schema"" x"."odd, table" VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, '', '\x'::bytea, '{}', '{}', 0, '2024-02-29 12:00:00+00', ''),
 (3, E'tab\there', '\x00ff5c0a0d'::bytea, '{"q": "say \"hi\", ok", "u": "\u00e9\u4e2d"}', '{"a,b", NULL, "c\\d"}',
  -1.5, '1999-12-31 23:59:59.999+00', 'comma, inside'),
 (4, E'new\nline and CR\r and both\r\n', '\x5c4e'::bytea, '[1, "two", null]', '{"{x}", "\"q\""}', 12345.678,
  NULL, E'quote " here'),
 (5, E'back\\slash \\N and \\.', NULL, '"just a string"', '{""}', NULL, NULL, E'\\.'),
 (6, '\N', NULL, NULL, NULL, NULL, NULL, 'NULL'),
 (7, E'\\.', NULL, NULL, NULL, NULL, NULL, NULL),
 (8, E'ctl \x01\x02 \b \f \v end', NULL, NULL, NULL, NULL, NULL, NULL),
 (9, 'ünïcødé ✓ 🙂 e' || U&'\0301' || ' 中文 עברית', NULL, NULL, NULL, NULL, NULL, 'Ωmega');
CREATE TABLE single (v text);
INSERT INTO single VALUES ('\.'), (''), (NULL), ('plain'), (E'a\tb'), ('x,y'), ('","'), (E'\r'), ('\N');
CREATE TABLE empty_table (id int, note text);
CREATE TABLE events (id bigint, host inet, note text, payload jsonb);
INSERT INTO events SELECT g, ('10.0.' || (g % 250) || '.' || (g % 200))::inet,
       CASE WHEN g = 1234 THEN 'login from 203.0.113.77 by mallory' ELSE 'event ' || g || E'\t' || md5(g::text) END,
       jsonb_build_object('g', g, 's', repeat('x', g % 40))
  FROM generate_series(1, 3000) g;
CREATE TABLE parted (id int, note text) PARTITION BY RANGE (id);
CREATE TABLE parted_too (id int) PARTITION BY LIST (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
INSERT INTO parted VALUES (1, 'in the partition');
"""
NAMES = {'Odd "Schema" x.odd, table': ('Odd "Schema" x', "odd, table"), "public.single": ("public", "single"),
         "public.empty_table": ("public", "empty_table"), "public.events": ("public", "events")}
TABLES = list(NAMES)


def _copy_csv(server, db: str, table_sql: str) -> bytes:
    """What the server itself writes for the table as CSV with a header (psql's \\copy … to csv header)."""
    proc = subprocess.run([str(server.tool("psql")), "-X", "-q", *server.conn_args(db), "-c",
                           f"COPY {table_sql} TO STDOUT WITH (FORMAT csv, HEADER)"],
                          env=tool_env(), capture_output=True, check=True, stdin=subprocess.DEVNULL)
    return proc.stdout


def _loaded_back(server, db: str, table_sql: str, csv: bytes) -> bytes:
    """The rows (as COPY text) of an empty copy of the table after loading `csv` with COPY … FROM … CSV HEADER."""
    proc = subprocess.run([str(server.tool("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", *server.conn_args(db),
                           "-c", f"CREATE TEMP TABLE back (LIKE {table_sql})",
                           "-c", "COPY back FROM STDIN WITH (FORMAT csv, HEADER)", "-c", "COPY back TO STDOUT"],
                          env=tool_env(), input=csv, capture_output=True, check=True)
    return proc.stdout


def _restore_copy_data(server, dump: Path, schema: str, table: str) -> bytes:
    """The COPY rows pg_restore sends for one table (between its COPY statement and the `\\.` line)."""
    proc = subprocess.run([str(server.tool("pg_restore")), "--data-only", "-n", schema, "-t", table, "-f", "-",
                           str(dump)], env=tool_env(), capture_output=True, check=True, stdin=subprocess.DEVNULL)
    body = proc.stdout.split(b" FROM stdin;\n", 1)[1]
    return body[:0 if body.startswith(b"\\.\n") else body.index(b"\n\\.\n") + 1]


def _row_of(server, dump: Path, text: str) -> int:
    """The 1-based row of the events table holding `text`, in the order pg_restore sends the rows."""
    lines = _restore_copy_data(server, dump, "public", "events").split(b"\n")
    return next(number for number, line in enumerate(lines, 1) if text.encode() in line)


def _sql_name(qualified: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in NAMES[qualified])


@pytest.fixture(scope="module")
def dumps(pg_server_factory, tmp_path_factory):
    """One dump per (major, compression), of a database holding the awkward tables."""
    folder = tmp_path_factory.mktemp("forensic-dumps")
    made = {}
    for major, names in COMPRESSIONS.items():
        server = pg_server_factory.start(major)
        db = "forensics_src"
        if db not in server.databases():
            server.createdb(db)
            server.psql(SCHEMA, db=db)
        for compression in names:
            path = folder / f"pg{major}-{compression}.dump"
            level = "0" if compression == "none" else compression if major >= 16 else "6"
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(path), *server.conn_args(db))
            made[major, compression] = (server, db, path)
    return made


@pytest.mark.parametrize(("major", "compression"), CASES)
def test_csv_and_copy_exports_match_the_server(console, dumps, major, compression):
    server, db, dump = dumps[major, compression]
    bench = Workbench(console)
    ref = console.locate(str(dump))
    report = bench.tables(ref, lambda: pytest.fail("a plain archive needs no secret"))
    assert report.compression == compression
    stats = {s.table.qualified: s for s in report.tables}
    assert set(TABLES) | {"public.parted", "public.parted_1", "public.parted_too"} == set(stats)
    assert stats["public.events"].rows == 3000 and stats["public.single"].rows == 9
    assert stats["public.empty_table"].has_data and stats["public.empty_table"].rows == 0
    assert [c.name for c in stats[TABLES[0]].table.columns][-1] == 'Mixed Case, "col" z'
    assert stats[TABLES[0]].table.columns[1].type == "text"
    assert not stats["public.parted"].has_data and stats["public.parted_1"].rows == 1  # a parent has no rows
    assert not stats["public.parted_too"].has_data and len(report.tables) == len(stats)
    with pytest.raises(NotFoundError, match="holds no data for table public.parted"):
        bench.export(ref, lambda: "", "public.parted", stream=io.BytesIO())
    for qualified in TABLES:
        out = io.BytesIO()
        result = bench.export(ref, lambda: "", qualified, "csv", stream=out)
        header = out.getvalue().split(b"\n", 1)[0]
        assert header == _copy_csv(server, db, _sql_name(qualified)).split(b"\n", 1)[0], (qualified, compression)
        assert result.rows == stats[qualified].rows
        copy = io.BytesIO()
        bench.export(ref, lambda: "", qualified, "copy", stream=copy)
        rows = _restore_copy_data(server, dump, *NAMES[qualified])
        assert copy.getvalue() == rows, (qualified, compression)
        assert _loaded_back(server, db, _sql_name(qualified), out.getvalue()) == rows, (qualified, compression)


@pytest.mark.parametrize(("major", "compression"), [(17, "zstd"), (18, "gzip")])
def test_rows_cut_between_decompressed_pieces_export_and_search_the_same(console, dumps, major, compression,
                                                                        monkeypatch):
    """With chunks cut at every decompressed piece instead of joined to a megabyte, rows span the cuts."""
    server, _, dump = dumps[major, compression]
    bench = Workbench(console)
    ref = console.locate(str(dump))
    whole = io.BytesIO()
    bench.export(ref, lambda: "", "public.events", "csv", stream=whole)
    hits = []
    bench.search(ref, lambda: "", "by mallory", on_hit=hits.append)
    monkeypatch.setattr(table_walk, "CACHED_RUN", 0)
    cut = io.BytesIO()
    assert bench.export(ref, lambda: "", "public.events", "csv", stream=cut).rows == 3000
    assert cut.getvalue() == whole.getvalue()
    lines = whole.getvalue().split(b"\n")
    for limit in (0, 1, 1500, 2999, 3000, 5000):
        some = io.BytesIO()
        assert bench.export(ref, lambda: "", "public.events", "csv", stream=some, limit=limit).rows == min(limit, 3000)
        assert some.getvalue() == b"\n".join(lines[:min(limit, 3000) + 1]) + b"\n"
    again = []
    bench.search(ref, lambda: "", "by mallory", on_hit=again.append)
    assert again == hits and [h.row for h in hits] == [_row_of(server, dump, IOC)]


@pytest.mark.parametrize(("major", "compression"), [(15, "gzip"), (17, "zstd"), (18, "lz4"), (16, "none")])
def test_search_finds_the_planted_ioc(console, dumps, major, compression):
    server, _, dump = dumps[major, compression]
    ioc_row = _row_of(server, dump, IOC)
    hits = []
    summary = Workbench(console).search(console.locate(str(dump)), lambda: "", IOC, on_hit=hits.append)
    assert [(h.table, h.row, h.column) for h in hits] == [("public.events", ioc_row, "note")]
    assert hits[0].excerpt[hits[0].start:hits[0].end] == IOC
    assert summary.tables_searched == 5
    upper = []
    Workbench(console).search(console.locate(str(dump)), lambda: "", "MALLORY", ignore_case=True,
                              on_hit=upper.append)
    assert [(h.row, h.column) for h in upper] == [(ioc_row, "note")]
    escaped = []
    Workbench(console).search(console.locate(str(dump)), lambda: "", "\\N and \\.", on_hit=escaped.append)
    assert [(h.table, h.row, h.column) for h in escaped] == [(TABLES[0], 5, "t")]
    regex = []
    Workbench(console).search(console.locate(str(dump)), lambda: "", r"^a\tb$", regex=True, on_hit=regex.append)
    assert [(h.table, h.row, h.column) for h in regex] == [("public.single", 5, "v")]


def test_backup_of_a_dump_exports_the_same_through_the_cli(console, make_backup, dumps, tmp_path, secret_file,
                                                           capsys):
    server, db, dump = dumps[17, "gzip"]
    record = make_backup(dump)
    enc = Path(console.storage("vault").location(record.key))
    out = tmp_path / "events.csv"
    assert main(["export", str(enc), "--table", "public.events", "-o", str(out),
                 "--secret-key-file", str(secret_file), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert _loaded_back(server, db, _sql_name("public.events"), out.read_bytes()) == _restore_copy_data(
        server, dump, "public", "events")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert printed["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() and printed["rows"] == 3000
    entries = [e for e in Console().audit.entries() if e.action == "forensics.export"]
    assert entries[-1].detail["sha256"] == printed["sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]

    folder = tmp_path / "all"
    folder.mkdir()
    assert main(["export", str(enc), "--all-tables", "--out-dir", str(folder), "--format", "jsonl",
                 "--secret-key-file", str(secret_file)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["Odd__Schema__x.odd__table.jsonl", "public.single.jsonl", "public.empty_table.jsonl",
                            "public.events.jsonl", "public.parted_1.jsonl"])
    rows = [json.loads(line) for line in (folder / "Odd__Schema__x.odd__table.jsonl").read_text("utf-8").splitlines()]
    assert rows[0] == {"id": "1", "t": None, "b": None, "j": None, "a": None, "n": None, "ts": None,
                       'Mixed Case, "col" z': None}
    assert rows[2]["t"] == "tab\there" and rows[2]["b"] == "\\x00ff5c0a0d"
    assert rows[3]["t"] == "new\nline and CR\r and both\r\n"

    capsys.readouterr()
    assert main(["search", str(enc), IOC, "--secret-key-file", str(secret_file)]) == 0
    ioc_row = _row_of(server, dump, IOC)
    assert f"public.events row {ioc_row} column note: login from [{IOC}] by mallory" in capsys.readouterr().out

    assert main(["export", str(enc), "--table", "event", "--secret-key-file", str(secret_file)]) == 5
    assert "Did you mean: public.events" in capsys.readouterr().err


def test_a_wrong_key_and_a_truncated_backup_fail_plainly(console, make_backup, dumps, tmp_path, capsys):
    _, _, dump = dumps[16, "zstd"]
    record = make_backup(dump)
    enc = Path(console.storage("vault").location(record.key))
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the secret\n")
    assert main(["tables", str(enc), "--secret-key-file", str(wrong)]) == 4
    cut = tmp_path / "cut.enc"
    cut.write_bytes(enc.read_bytes()[:-200])
    right = tmp_path / "right.txt"
    right.write_text(SECRET + "\n", "utf-8")
    assert main(["tables", str(cut), "--secret-key-file", str(right)]) == 3
    assert "truncated" in capsys.readouterr().err
    plain_cut = tmp_path / "cut.dump"
    plain_cut.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    assert main(["search", str(plain_cut), IOC]) == 3
    assert "truncated" in capsys.readouterr().err
