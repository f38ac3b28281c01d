"""The diff on two dumps of a real database taken before and after known changes (tests/fixtures/diff_db.py):
updates, inserts, deletes, a table without a primary key holding a duplicated row, a table added and one
dropped, a column added. It must report exactly those rows, as the server holds them, from plain archives
and from backups decrypted as streams."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.forensics.workbench import Workbench
from tests.fixtures.diff_db import BEFORE, CHANGES, EXPECTED, ROWS, SCHEMA
from tests.fixtures.postgres import tool_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CASES = [(16, "lz4", "gzip"), (18, "zstd", "none")]


@pytest.fixture(scope="module")
def dumps(pg_server_factory, tmp_path_factory):
    """(major, compression of A, of B) → (server, database, A, B): the database is left as B."""
    folder = tmp_path_factory.mktemp("diff-dumps")
    made = {}
    for major, comp_a, comp_b in CASES:
        server = pg_server_factory.start(major)
        db = f"diff_src_{major}"
        server.createdb(db)
        server.psql(BEFORE, db=db)
        a, b = folder / f"pg{major}-a.dump", folder / f"pg{major}-b.dump"
        server.run("pg_dump", "-Fc", f"--compress={comp_a}", "-f", str(a), *server.conn_args(db))
        server.psql(CHANGES, db=db)
        server.run("pg_dump", "-Fc", f"--compress={'0' if comp_b == 'none' else comp_b}", "-f", str(b),
                   *server.conn_args(db))
        made[major] = (server, db, a, b)
    return made


def _server_rows(server, db: str, sql: str) -> list[list[str | None]]:
    """Rows as the server's text output gives them (NULL → None), through psql's unaligned JSON-free mode."""
    proc = subprocess.run([str(server.tool("psql")), "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e",
                           "-P", "null=\x1d", *server.conn_args(db), "-c", sql], env=tool_env(), capture_output=True,
                          check=True, stdin=subprocess.DEVNULL, text=True)
    lines = [line for line in proc.stdout.split("\x1e") if line.strip("\n")]
    return [[None if v == "\x1d" else v for v in line.strip("\n").split("\x1f")] for line in lines]


def _records(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def _by_table(records: list[dict]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for record in records:
        shown = record["key"] if record["key"] is not None else (record["a"] or record["b"])
        found.setdefault(record["table"], set()).add((record["change"], "\t".join(str(v) for v in shown.values())))
    return found


@pytest.mark.parametrize("major", [case[0] for case in CASES])
def test_diff_reports_exactly_the_rows_the_test_changed(console, dumps, major):
    server, db, a, b = dumps[major]
    bench = Workbench(console)
    report = bench.diff(console.locate(str(a)), console.locate(str(b)), lambda: pytest.fail("no secret needed"))
    assert {t.table: (t.only_a, t.only_b, t.changed) for t in report.tables if t.differs} == EXPECTED
    assert {(s.change, s.kind, s.schema, s.name) for s in report.schema} == SCHEMA
    out = io.BytesIO()
    bench.diff(console.locate(str(a)), console.locate(str(b)), lambda: "", fmt="jsonl", stream=out, budget=4096)
    records = _records(out.getvalue())
    found = _by_table(records)
    for table, expected in ROWS.items():
        assert found[table] == expected, table
    # what B shows is what the server holds now, value for value
    customers = {r["key"]["id"]: r["b"] for r in records if r["table"] == "shop.customers" and r["b"]}
    now = _server_rows(server, db, "SELECT id, name, balance FROM shop.customers WHERE id IN (3, 7, 12, 41, 42)")
    assert {row[0]: dict(zip(["id", "name", "balance"], row, strict=True)) for row in now} == customers
    big = {r["key"]["id"]: (r["a"]["payload"], r["b"]["payload"]) for r in records if r["table"] == "public.big"}
    assert sorted(map(int, big)) == list(range(200, 2001, 200))
    assert all(after == f"changed {key}" and len(before) == 32 for key, (before, after) in big.items())
    log = [r for r in records if r["table"] == "public.log"]
    assert [(r["change"], r["a"] or r["b"]) for r in sorted(log, key=lambda r: r["change"])] == [
        ("only_a", {"at": "09:03", "message": "logout alice"}), ("only_b", {"at": "09:01", "message": "login alice"})]
    assert _server_rows(server, db, "SELECT count(*) FROM public.log WHERE message = 'login alice'") == [["2"]]


def test_two_backups_through_the_cli(console, make_backup, dumps, tmp_path, secret_file, capsys):
    _, _, a, b = dumps[18]
    enc_a = Path(console.storage("vault").location(make_backup(a).key))
    enc_b = Path(console.storage("vault").location(make_backup(b).key))
    rows = tmp_path / "rows.jsonl"
    assert main(["diff", str(enc_a), str(enc_b), "--format", "jsonl", "-o", str(rows), "--secret-key-file",
                 str(secret_file), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {t["table"]: (t["only_a"], t["only_b"], t["changed"]) for t in printed["tables"]
            if t["only_a"] or t["only_b"] or t["changed"]} == EXPECTED
    found = _by_table(_records(rows.read_bytes()))
    for table, expected in ROWS.items():
        assert found[table] == expected, table
    entry = [e for e in Console().audit.entries() if e.action == "forensics.diff"][-1]
    assert entry.result == "ok" and entry.detail["rows_written"] == printed["rows_written"]
    csv_out = tmp_path / "settings.csv"
    assert main(["diff", str(enc_a), str(b), "--table", "public.settings", "--format", "csv", "-o",
                 str(csv_out), "--secret-key-file", str(secret_file)]) == 0
    assert csv_out.read_text("utf-8") == "change,key,value,changed_by\nchanged_a,retention,30,\n" \
                                         "changed_b,retention,90,carol\n"
    capsys.readouterr()
    assert main(["diff", str(enc_a), str(enc_b), "--secret-key-file", str(secret_file)]) == 0
    out = capsys.readouterr().out
    assert "public.added: only in B (3 rows)" in out and "public.gone: only in A (2 rows)" in out
