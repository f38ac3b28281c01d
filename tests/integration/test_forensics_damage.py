"""A damaged table in a real gzip dump: the error names the table and where its data starts; --keep-going exports
the other tables whole and exits 11, writing nothing for the damaged one."""

from __future__ import annotations

import json

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.archive.pgarchive import read_archive
from recovery_console.errors import ExitCode

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TABLE first_t (id int, note text);
INSERT INTO first_t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE second_t (id int, note text);
INSERT INTO second_t SELECT g, 'second ' || g FROM generate_series(1, 500) g;
"""


@pytest.fixture(scope="module")
def damaged_dump(pg_server_factory, tmp_path_factory):
    server = pg_server_factory.start(15)
    if "damage_src" not in server.databases():
        server.createdb("damage_src")
        server.psql(SCHEMA, db="damage_src")
    path = tmp_path_factory.mktemp("damage") / "two.dump"
    server.run("pg_dump", "-Fc", "--compress=6", "-f", str(path), *server.conn_args("damage_src"))
    with path.open("rb") as fp:
        archive = read_archive(fp)
    data = {e.tag: e for e in archive.toc if e.desc == "TABLE DATA"}
    names = sorted(data, key=lambda tag: data[tag].data_offset)
    first = data[names[0]]
    raw = bytearray(path.read_bytes())
    raw[first.data_offset + 400] ^= 0xFF  # inside the first table's gzip stream; the block framing is intact
    path.write_bytes(bytes(raw))
    return path, names[0], names[1], first.data_offset


def test_the_error_names_the_table_and_its_offset_and_keep_going_exports_the_rest(damaged_dump, tmp_path, capsys,
                                                                                  monkeypatch):
    path, broken, whole, offset = damaged_dump
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", str(path), "--all-tables", "--out-dir", str(out)]) == ExitCode.VERIFY_FAILED
    err = capsys.readouterr().err
    assert f"public.{broken}" in err and f"{offset:,}" in err
    assert list(out.iterdir()) == []  # stopped at the damage: nothing half-written
    assert main(["export", str(path), "--all-tables", "--out-dir", str(out), "--keep-going", "--json"]) == \
        ExitCode.PARTIAL
    result = json.loads(capsys.readouterr().out)
    assert [item["table"] for item in result["damaged"]] == [f"public.{broken}"]
    assert [item["table"] for item in result["files"]] == [f"public.{whole}"]
    assert sorted(p.name for p in out.iterdir()) == [f"public.{whole}.csv"]
    assert (out / f"public.{whole}.csv").read_text().count("\n") == 501
