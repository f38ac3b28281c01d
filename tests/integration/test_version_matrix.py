"""Dumps of PostgreSQL 15–18 restored into servers 15–18: the right pg_restore, or a clear refusal."""

from __future__ import annotations

import pytest

from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.restore import Restorer
from recovery_console.models.profile import ConnectionMode
from tests.fixtures.console import SECRET

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MAJORS = (15, 16, 17, 18)
SCHEMA = """
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags jsonb, at timestamptz);
INSERT INTO items (name, price, tags, at)
SELECT 'item ' || g, g * 0.25, jsonb_build_object('g', g), timestamptz '2025-01-01' + g * interval '1 minute'
FROM generate_series(1, 250) g;
CREATE INDEX items_name ON items (name);
CREATE VIEW pricey AS SELECT * FROM items WHERE price > 50;
"""


@pytest.fixture(scope="module")
def servers(pg_server_factory):
    return {major: pg_server_factory.start(major) for major in MAJORS}


@pytest.fixture
def matrix_console(console, local_target, servers, pg_server_factory):
    tool_dirs = [str(pg_server_factory.bin_dir(m)) for m in MAJORS]
    for major, server in servers.items():
        db = f"matrix_src_{major}"
        if db not in server.databases():
            server.createdb(db)
            server.psql(SCHEMA, db=db)
        console.profiles.create(f"src{major}", server.dsn(db), target=local_target, tool_dirs=tool_dirs)
        console.profiles.set_mode(f"src{major}", ConnectionMode.DIRECT, acknowledge_direct=True)
        console.profiles.create(f"dst{major}", server.dsn("postgres"), target=local_target, tool_dirs=tool_dirs)
        console.profiles.set_mode(f"dst{major}", ConnectionMode.DIRECT, acknowledge_direct=True)
    return console


@pytest.mark.parametrize("source", MAJORS)
def test_dump_of_each_major_into_each_server(matrix_console, servers, source):
    console = matrix_console
    record = backup_database(console, f"src{source}", secret=SECRET)
    assert record.metadata.pg_dump_version.startswith(str(source))
    restorer = Restorer(console)
    for target in MAJORS:
        name = f"matrix_{source}_into_{target}"
        plan = restorer.preflight(f"dst{target}", console.locate(record.short_id), SECRET, new_database=name)
        if source > target:
            failed = [c for c in plan.checks if c.blocking]
            assert [c.name for c in failed] == ["server version can load this dump"]
            assert f"PostgreSQL {source}" in failed[0].detail and f"PostgreSQL {target}" in failed[0].detail
            continue
        assert plan.ready, (source, target, plan.checks)
        assert plan.tool.major >= source and plan.tool.major == target
        result = restorer.run(plan, SECRET)
        assert [(t.table, t.restored_rows, t.ok) for t in result.tables] == [("items", 250, True)]
        assert servers[target].psql("SELECT count(*) FROM pricey", db=name).strip() == "50"
        servers[target].dropdb(name)


@pytest.mark.parametrize(("source", "seen"), [(15, "18.1"), (17, "15.4 (Debian 15.4-1)")])
def test_a_stale_version_seen_is_corrected_before_anything_is_stored(matrix_console, servers, source, seen):
    """18 seen, 15 found: pg_dump 18 would do, but 15 fits better. 15 seen, 17 found: pg_dump 15 refuses."""
    console = matrix_console
    url = console.profiles.store.get(f"src{source}").dump_url()
    console.profiles.server_versions.remember(url, seen)
    record = backup_database(console, f"src{source}", secret=SECRET)
    assert record.metadata.pg_dump_version.startswith(f"{source}.")
    assert record.metadata.server_version == servers[source].version
    assert console.profiles.server_versions.get(url) == servers[source].version
    assert [r.short_id for r in console.list_backups()[0]] == [record.short_id]
