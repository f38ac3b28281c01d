"""DumpStream reading pg_dump's archive header ahead, with stand-in pg_dump scripts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.pg.pgdump import DumpStream
from recovery_console.engine.pg.pgtools import PgTool
from recovery_console.errors import DatabaseError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-pg16.dump"
URL = "postgresql://app@localhost:5432/shop"


def fake_pg_dump(tmp_path: Path, body: str) -> PgTool:
    script = tmp_path / "pg_dump"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return PgTool("pg_dump", script, "16.4", 16, "test")


def read_all(dump: DumpStream, size: int) -> bytes:
    out = bytearray()
    while piece := dump.read(size):
        assert len(piece) <= size
        out += piece
    return bytes(out)


@pytest.mark.parametrize("size", [7, 1 << 20])
def test_header_read_ahead_leaves_the_stream_unchanged(tmp_path: Path, size: int) -> None:
    # the header arrives in two writes, 20 bytes apart in time, as a slow catalog read would leave it
    tool = fake_pg_dump(tmp_path, f"head -c 20 '{SAMPLE}'; sleep 0.1; tail -c +21 '{SAMPLE}'")
    with DumpStream(tool, URL, None) as dump:
        header = dump.archive_header()
        assert dump.archive_header() == header
        assert read_all(dump, size) == SAMPLE.read_bytes()
        assert dump.bytes_read == SAMPLE.stat().st_size
    assert header == pgarchive.parse_archive(SAMPLE.read_bytes()).header
    assert (header.dbname, header.server_version.split(".")[0]) == ("recovery_sample", "16")


def test_pg_dump_failing_before_its_header_raises_its_message(tmp_path: Path) -> None:
    tool = fake_pg_dump(tmp_path, "echo 'pg_dump: error: connection to server failed: Connection refused' >&2; exit 1")
    with DumpStream(tool, URL, None) as dump, pytest.raises(DatabaseError) as info:
        dump.archive_header()
    assert "Connection refused" in info.value.message and "app@localhost:5432/shop" in info.value.message


def test_pg_dump_writing_nothing_is_an_error_too(tmp_path: Path) -> None:
    with DumpStream(fake_pg_dump(tmp_path, "exit 0"), URL, None) as dump, pytest.raises(DatabaseError, match="header"):
        dump.archive_header()


def test_pg_dump_lines_reach_the_one_line_error_apart(tmp_path: Path) -> None:
    """pg_dump reports over several lines; the error keeps them apart as text, not as escaped newlines."""
    lines = "pg_dump: error: connection failed: refused\\n\\tIs the server running?\\n"
    tool = fake_pg_dump(tmp_path, f"printf '{lines}' >&2; exit 1")
    with DumpStream(tool, URL, None) as dump, pytest.raises(DatabaseError) as info:
        dump.archive_header()
    assert info.value.message.endswith("pg_dump: error: connection failed: refused / Is the server running?")
