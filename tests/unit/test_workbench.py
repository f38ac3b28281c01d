"""The workbench on the shipped sample archives and backups of them: tables, export, search, errors, cancel."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.errors import Cancelled, IntegrityError, UnsupportedError, UsageError, WrongKeyError
from tests.fixtures.console import DATA, SECRET

SAMPLES = ["sample-pg15.dump", "sample-pg16.dump", "sample-pg17.dump", "sample-pg17-zstd.dump",
           "sample-pg17-stdout.dump", "sample-pg18.dump", "sample-pg18-none.dump"]
ROWS = {"audit.attachments": 11, "audit.empty_log": 0, "public.settings": 5, "shop.customers": 37, "shop.orders": 23}


def _no_secret() -> str:
    raise AssertionError("a plain archive needs no secret")


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_lists_its_tables_with_rows_and_columns(console, name):
    report = Workbench(console).tables(console.locate(str(DATA / name)), _no_secret)
    assert {s.table.qualified: s.rows for s in report.tables} == ROWS
    customers = next(s for s in report.tables if s.table.name == "customers")
    assert [(c.name, c.type) for c in customers.table.columns] == [
        ("id", "integer"), ("name", "text"), ("balance", "numeric(12,2)"), ("joined", "timestamp with time zone")]
    assert customers.text_bytes == 1643 and customers.stored_bytes > 0
    entry = list(console.audit.entries())[-1]
    assert (entry.action, entry.result, entry.detail["tables"]) == ("forensics.tables", "ok", 5)


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_a_backup_is_read_as_a_stream_and_matches_its_archive(console, make_backup, tmp_path, compression):
    dump = DATA / "sample-pg17-zstd.dump"
    record = make_backup(dump, compression=compression)
    bench = Workbench(console)
    enc = console.locate(record.short_id)
    plain, encrypted = io.BytesIO(), io.BytesIO()
    bench.export(console.locate(str(dump)), _no_secret, "shop.customers", stream=plain)
    bench.export(enc, lambda: SECRET, "shop.customers", stream=encrypted)
    assert encrypted.getvalue() == plain.getvalue() and plain.getvalue().startswith(b"id,name,balance,joined\n")
    with pytest.raises(WrongKeyError):
        bench.tables(enc, lambda: "not the secret")
    assert not list(tmp_path.rglob("*.part"))


def test_export_writes_a_private_file_and_records_its_hash(console, tmp_path):
    out = tmp_path / "customers.jsonl"
    bench = Workbench(console)
    result = bench.export(console.locate(str(DATA / "sample-pg16.dump")), _no_secret, "customers", "jsonl", out=out,
                          limit=3)
    assert result.rows == 3 and len(out.read_text("utf-8").splitlines()) == 3
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    entry = list(console.audit.entries())[-1]
    assert (entry.action, entry.detail["sha256"], entry.detail["rows"]) == ("forensics.export", result.sha256, 3)
    with pytest.raises(UsageError, match="already exists"):
        bench.export(console.locate(str(DATA / "sample-pg16.dump")), _no_secret, "customers", out=out)


def test_export_all_tables_writes_one_file_each(console, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    done = Workbench(console).export_all(console.locate(str(DATA / "sample-pg18.dump")), _no_secret, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{t}.csv" for t in ROWS)
    assert {d.table: d.rows for d in done} == ROWS
    assert (folder / "audit.empty_log.csv").read_bytes() == b"id,at,message\n"


def test_a_cancelled_export_leaves_nothing(console, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    token = CancelToken()
    reporter = Reporter(sink=lambda progress: token.cancel() if progress.done else None, token=token, min_interval=0)
    with pytest.raises(Cancelled):
        Workbench(console).export(console.locate(str(DATA / "sample-pg15.dump")), _no_secret, "shop.orders",
                                  out=folder / "orders.csv", reporter=reporter)
    assert list(folder.iterdir()) == []
    assert list(console.audit.entries())[-1].result == "cancelled"


def test_search_finds_values_and_refuses_other_dump_formats(console, tmp_path):
    hits = []
    summary = Workbench(console).search(console.locate(str(DATA / "sample-pg17.dump")), _no_secret, "TAB",
                                        ignore_case=True, on_hit=hits.append)
    assert [(h.table, h.row, h.column, h.excerpt) for h in hits] == [("shop.customers", 3, "name", "tab\there")]
    assert summary.tables_searched == 5
    sql = tmp_path / "plain.sql"
    sql.write_text("--\n-- PostgreSQL database dump\n--\n")
    with pytest.raises(UnsupportedError, match="plain SQL dump"):
        Workbench(console).tables(console.locate(str(sql)), _no_secret)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "toc.dat").write_bytes(b"PGDMP")
    with pytest.raises(UnsupportedError, match="directory-format"):
        Workbench(console).locate(str(folder))


def test_a_cut_archive_fails_naming_what_is_missing(console, tmp_path):
    data = (DATA / "sample-pg18-none.dump").read_bytes()
    cut = tmp_path / "cut.dump"
    cut.write_bytes(data[: len(data) - 700])
    with pytest.raises(IntegrityError, match="truncated"):
        Workbench(console).tables(console.locate(str(cut)), _no_secret)
    assert Path(cut).exists()
