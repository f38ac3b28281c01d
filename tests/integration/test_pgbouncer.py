"""Through a real PgBouncer in transaction mode: the pooled URL never reaches pg_dump or pg_restore."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from recovery_console.engine import restore
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.pg import pgdump
from recovery_console.engine.restore import Restorer
from recovery_console.models.profile import ConnectionMode, ModeNotDeclaredError
from tests.fixtures.console import SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"pooled_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def launched(monkeypatch) -> list[list[str]]:
    """Every argv handed to a child process by pg_dump streaming and by restore."""
    argvs: list[list[str]] = []
    real = subprocess.Popen

    def recording(argv, *args, **kwargs):
        argvs.append([str(a) for a in argv])
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(pgdump.subprocess, "Popen", recording)
    monkeypatch.setattr(restore.subprocess, "Popen", recording)
    return argvs


def test_pooled_profile_refuses_until_a_direct_url_is_declared(console, local_target, pgbouncer, database):
    console.profiles.create("pooled", pgbouncer.dsn(database), target=local_target)
    with pytest.raises(ModeNotDeclaredError):
        backup_database(console, "pooled", secret=SECRET)
    assert console.list_backups()[0] == []


def test_pool_mode_dumps_and_restores_through_the_direct_url_only(console, local_target, pgbouncer, pg15, database,
                                                                  launched, table_fingerprints):
    console.profiles.create("pooled", pgbouncer.dsn(database), target=local_target)
    console.profiles.set_mode("pooled", ConnectionMode.POOL, direct_url=pg15.dsn(database))
    record = backup_database(console, "pooled", secret=SECRET)
    before = table_fingerprints(pg15, database)
    restorer = Restorer(console)
    plan = restorer.preflight("pooled", console.locate(record.short_id), SECRET)
    assert plan.ready, plan.checks
    restorer.run(plan, SECRET)
    assert table_fingerprints(pg15, database) == before
    tools = [argv for argv in launched if argv[0].endswith(("pg_dump", "pg_restore"))]
    assert {argv[0].rsplit("/", 1)[-1] for argv in tools} == {"pg_dump", "pg_restore"}
    joined = " ".join(" ".join(argv) for argv in tools)
    assert f":{pgbouncer.port}" not in joined and f"port={pgbouncer.port}" not in joined
    assert f"{pg15.port}" in joined


def test_test_connection_reports_pooler_seen_behind_a_url_declared_direct(console, local_target, pgbouncer, database):
    console.profiles.create("lying", pgbouncer.dsn(database), target=local_target)
    console.profiles.set_mode("lying", ConnectionMode.DIRECT, acknowledge_direct=True)
    report = console.profiles.test("lying")
    assert report.ok and report.server_major == 15
    seen = " ".join(report.warnings)
    assert "PgBouncer's admin console" in seen
    assert "different server processes" in seen


def test_direct_url_shows_no_pooler(console, local_target, pg15, database):
    console.profiles.create("direct", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("direct", ConnectionMode.DIRECT, acknowledge_direct=True)
    report = console.profiles.test("direct")
    assert report.ok and report.warnings == [] and report.pg_dump and report.pg_restore
    assert console.profiles.server_versions.get(pg15.dsn(database)) == report.server_version  # the next backup's hint


def test_a_saved_profile_and_the_wizards_unsaved_input_get_the_same_report(console, local_target, pg15, database):
    """One report for both: here a role without CREATEDB, which safe restores need, is named in each."""
    from recovery_console.engine.pg.connection_report import check_connection

    role = f"reader_{uuid.uuid4().hex[:8]}"
    pg15.psql(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    url = pg15.dsn(database).replace("postgres@", f"{role}@", 1)
    console.profiles.create("reader", url, target=local_target)
    console.profiles.set_mode("reader", ConnectionMode.DIRECT, acknowledge_direct=True)
    saved = console.profiles.test("reader")
    unsaved = check_connection("reader", url, ConnectionMode.DIRECT)
    assert saved == unsaved
    assert saved.ok and saved.user == role and saved.can_create_db is False
    assert saved.warnings == [f"The role {role} may not create databases; safe restores need CREATEDB."]
