"""Live backups through pg_dump and safe, undoable restores, against a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from recovery_console.engine import restore as restore_module
from recovery_console.engine.archive.rowcount import RowCounter
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.pg import pgdump, postgres
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.engine.restore import Restorer
from recovery_console.errors import Cancelled, DatabaseError, IntegrityError, UsageError
from recovery_console.models.profile import ConnectionMode, ModeNotDeclaredError
from tests.fixtures.console import SECRET
from tests.fixtures.postgres import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def profile(console, local_target, pg15, database) -> str:
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


def backup(console, profile_name="prod", **kwargs):
    return backup_database(console, profile_name, secret=SECRET, **kwargs)


def test_undeclared_profile_refuses_backup(console, local_target, pg15, database):
    console.profiles.create("fresh", pg15.dsn(database), target=local_target)
    with pytest.raises(ModeNotDeclaredError):
        backup(console, "fresh")
    assert console.list_backups()[0] == []


@pytest.mark.parametrize("compression", ["zstd", "pg_dump", "none"])
def test_live_backup_records_metadata_and_verifies(console, profile, database, pg15, compression, tmp_path):
    record = backup(console, description="nightly", compression=compression)
    md = record.metadata
    assert (md.database, md.source, md.description) == (database, "pg_dump", "nightly")
    assert md.server_version.startswith("15.") and md.pg_dump_version.startswith("15")
    assert md.compression == ("zstd" if compression == "zstd" else "none")
    result = console.verify(console.locate(record.short_id), SECRET)
    assert result.archive_version == "1.14" and result.object_counts["TABLE"] == 7
    out = tmp_path / "plain.dump"
    console.decrypt(console.locate(record.short_id), out, SECRET)
    listing = subprocess.run([str(pg15.tool("pg_restore")), "--list", str(out)], capture_output=True, text=True)
    assert listing.returncode == 0 and "TABLE DATA public pgbench_accounts" in listing.stdout


def test_a_later_backup_trusts_the_version_seen_and_opens_no_probe_connection(console, profile, database,
                                                                              monkeypatch):
    first = backup(console)
    url = console.profiles.store.get(profile).dump_url()
    assert console.profiles.server_versions.get(url) == first.metadata.server_version

    def no_probe(*args, **kwargs):
        raise AssertionError("the backup probed the server's version")

    monkeypatch.setattr(postgres, "server_info", no_probe)  # the size query (live_backup._database_size) may connect
    second = backup(console)
    assert (second.metadata.server_version, second.metadata.database) == (first.metadata.server_version, database)
    assert second.metadata.pg_dump_version == first.metadata.pg_dump_version


def test_an_interrupt_while_pg_dump_starts_leaves_no_pg_dump_running(console, profile, monkeypatch):
    backup(console)
    started = []

    def interrupted(self):
        started.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(pgdump.DumpStream, "archive_header", interrupted)
    with pytest.raises(KeyboardInterrupt):
        backup(console)
    assert len(started) == 1 and started[0].process.poll() is not None


def test_an_unreachable_server_with_a_version_seen_still_gets_the_connection_error(console, local_target, pg15):
    url = pg15.dsn("postgres").replace(f":{pg15.port}/", f":{free_port()}/")
    console.profiles.create("gone", url, target=local_target)
    console.profiles.set_mode("gone", ConnectionMode.DIRECT, acknowledge_direct=True)
    console.profiles.server_versions.remember(url, pg15.version)
    with pytest.raises(DatabaseError, match="^Could not connect to "):
        backup(console, "gone")
    assert console.list_backups()[0] == []


def test_pg_dump_failure_stores_nothing(console, local_target, pg15):
    console.profiles.create("broken", pg15.dsn("no_such_database"), target=local_target)
    console.profiles.set_mode("broken", ConnectionMode.DIRECT, acknowledge_direct=True)
    with pytest.raises(DatabaseError):
        backup(console, "broken")
    assert console.list_backups()[0] == []


def test_pg_dump_dying_mid_stream_stores_nothing(console, profile, monkeypatch):
    original = pgdump.DumpStream.read

    def read_then_kill(self, size=-1):
        data = original(self, size)
        if self.bytes_read > 100_000 and self.process.poll() is None:
            self.process.kill()
        return data

    monkeypatch.setattr(pgdump.DumpStream, "read", read_then_kill)
    with pytest.raises(DatabaseError, match="pg_dump .* failed"):
        backup(console, compression="none")
    assert console.list_backups()[0] == []


def test_cancel_terminates_pg_dump_and_keeps_nothing(console, profile, monkeypatch):
    token = CancelToken()
    started = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(pgdump.subprocess, "Popen", recording_popen)

    def sink(progress):
        if progress.done > 200_000:
            token.cancel()

    with pytest.raises(Cancelled):
        backup(console, compression="none", reporter=Reporter(sink=sink, token=token, min_interval=0))
    assert started and started[0].poll() is not None
    assert console.list_backups()[0] == []


def test_password_never_on_pg_dump_argv(console, local_target, pg15, database, monkeypatch):
    pg15.psql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dumper') THEN "
              "CREATE ROLE dumper LOGIN SUPERUSER PASSWORD 'Sw0rdfish!'; END IF; END $$")
    stored = {}
    monkeypatch.setattr(console.secrets, "put", lambda s, n, v: stored.__setitem__((s, n), v))
    monkeypatch.setattr(console.secrets, "get", lambda s, n: stored.get((s, n)))
    seen_argv, seen_env = [], []
    real_popen = subprocess.Popen

    def recording_popen(argv, *args, **kwargs):
        seen_argv.append(list(argv))
        seen_env.append(dict(kwargs.get("env") or {}))
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(pgdump.subprocess, "Popen", recording_popen)
    url = f"postgresql://dumper:Sw0rdfish!@127.0.0.1:{pg15.port}/{database}"
    console.profiles.create("pw", url, target=local_target)
    console.profiles.set_mode("pw", ConnectionMode.DIRECT, acknowledge_direct=True)
    backup(console, "pw")
    assert seen_argv and all("Sw0rdfish!" not in arg for arg in seen_argv[0])
    assert seen_env[0].get("PGPASSWORD") == "Sw0rdfish!" and "PGPASSFILE" not in seen_env[0]  # the child's env only
    assert os.environ.get("PGPASSWORD") != "Sw0rdfish!"  # never the console's own environment, nor a file
    assert "Sw0rdfish!" not in console.profiles.store.file.read_text()


def test_safe_in_place_restore_swaps_checks_marks_and_rolls_back(console, profile, pg15, database, table_fingerprints):
    before = table_fingerprints(pg15, database)
    record = backup(console)
    pg15.psql("INSERT INTO app.empty_log (message) VALUES ('written after the backup'); "
              "DELETE FROM pgbench_accounts WHERE aid <= 10", db=database)
    changed = table_fingerprints(pg15, database)
    assert changed != before
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET)
    assert plan.ready, plan.checks
    assert {c.name for c in plan.checks} >= {"connection mode declared", "backup fully verified",
                                             "pg_restore compatible", "role may create databases",
                                             "free space on the server", "connected sessions"}
    result = restorer.run(plan, SECRET)
    assert table_fingerprints(pg15, database) == before
    assert table_fingerprints(pg15, result.previous) == changed
    assert all(t.ok for t in result.tables)
    accounts = next(t for t in result.tables if t.table == "pgbench_accounts")
    assert accounts.expected_rows == accounts.restored_rows == 100_000
    comment = pg15.psql(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{database}'")
    assert record.backup_id in comment
    assert not [db for db in pg15.databases() if db.startswith(f"{database}__restore_")]
    restored_from, undone = restorer.rollback(profile)
    assert restored_from == result.previous
    assert table_fingerprints(pg15, database) == changed
    assert table_fingerprints(pg15, undone) == before
    actions = [(e.action, e.result) for e in console.audit.entries()]
    assert ("restore", "ok") in actions and ("restore.rollback", "ok") in actions


def test_restore_into_new_database_with_parallel_jobs(console, profile, pg15, database, table_fingerprints):
    record = backup(console)
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET, new_database=f"{database}_copy", jobs=2)
    assert plan.ready, plan.checks
    result = restorer.run(plan, SECRET)
    assert result.previous is None
    assert table_fingerprints(pg15, f"{database}_copy") == table_fingerprints(pg15, database)


def test_pg_restore_is_fed_the_rows_in_large_chunks_and_reads_them(console, profile, pg15, database,
                                                                     table_fingerprints, tmp_path):
    """A console backup holds pg_dump -Z0's archive, one chunk per row; what goes on to pg_restore
    has those chunks joined, and the real pg_restore restores it to the same tables."""
    record = backup(console)
    fed = tmp_path / "fed.dump"
    with fed.open("wb") as sink, console.locate(record.short_id).open() as stream:
        counter = RowCounter(forward=sink)
        report = read_stream(stream, SECRET, sink=counter, require_archive=False, hash_ciphertext=False)
        counts = counter.result()
    rows = sum(counts.values())
    assert rows > 100_000
    assert fed.stat().st_size < report.archive_length - 4 * rows  # nearly every row's 5-byte chunk header is gone
    pg15.createdb(f"{database}_fed")
    subprocess.run([str(pg15.tool("pg_restore")), "--exit-on-error", f"--dbname={pg15.dsn(f'{database}_fed')}",
                    str(fed)], check=True, capture_output=True)
    assert table_fingerprints(pg15, f"{database}_fed") == table_fingerprints(pg15, database)


def test_failed_restore_leaves_original_untouched_and_drops_scratch(console, profile, pg15, database,
                                                                    table_fingerprints, monkeypatch):
    before = table_fingerprints(pg15, database)
    record = backup(console)
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET)
    counted = RowCounter.result
    monkeypatch.setattr(RowCounter, "result", lambda self: {k: v + 1 for k, v in counted(self).items()})
    with pytest.raises(IntegrityError, match="does not match the backup"):
        restorer.run(plan, SECRET)
    assert table_fingerprints(pg15, database) == before
    assert not [db for db in pg15.databases() if db.startswith((f"{database}__restore_", f"{database}__pre_restore_"))]


def _flip_keeping_identity(path: Path) -> None:
    """Damage the end-of-backup record (past the TOC a pre-flight reads) keeping size and modification time."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_preflight_trusts_a_recorded_full_verify_and_the_restore_rechecks_it(console, profile, pg15, database,
                                                                              local_target, table_fingerprints):
    before = table_fingerprints(pg15, database)
    record = backup(console)
    console.verify(console.locate(record.short_id), SECRET)
    verifies = sum(e.action == "backup.verify" for e in console.audit.entries())
    _flip_keeping_identity(Path(console.targets.get(local_target).options["path"]) / record.key)
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET)
    assert plan.ready, plan.checks
    check = next(c for c in plan.checks if c.name == "backup fully verified")
    assert "full verify on record" in check.detail
    assert sum(e.action == "backup.verify" for e in console.audit.entries()) == verifies
    with pytest.raises(IntegrityError, match="authentication"):
        restorer.run(plan, SECRET)
    assert table_fingerprints(pg15, database) == before
    assert not [db for db in pg15.databases() if db.startswith((f"{database}__restore_", f"{database}__pre_restore_"))]
    assert console.full_verify_on_record(console.locate(record.short_id)) is None  # the failure was recorded
    again = restorer.preflight(profile, console.locate(record.short_id), SECRET)
    assert [c.name for c in again.checks if c.blocking] == ["backup fully verified"]


def test_verify_first_ignores_a_recorded_full_verify(console, profile, local_target):
    record = backup(console)
    console.verify(console.locate(record.short_id), SECRET)
    _flip_keeping_identity(Path(console.targets.get(local_target).options["path"]) / record.key)
    plan = Restorer(console).preflight(profile, console.locate(record.short_id), SECRET, verify_first=True)
    assert [c.name for c in plan.checks if c.blocking] == ["backup fully verified"]


def test_preflight_blocks_a_tampered_backup(console, profile, local_target):
    record = backup(console)
    path = Path(console.targets.get(local_target).options["path"]) / record.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    plan = Restorer(console).preflight(profile, console.locate(record.short_id), SECRET)
    assert not plan.ready
    failed = [c for c in plan.checks if c.blocking]
    assert [c.name for c in failed] == ["backup fully verified"] and "authentication" in failed[0].detail
    with pytest.raises(UsageError, match="pre-flight"):
        Restorer(console).run(plan, SECRET)


def test_names_left_by_a_restore_in_the_same_second_are_stepped_past(console, profile, pg15, database,
                                                                     table_fingerprints, monkeypatch):
    """A restore killed and run again within one second finds its scratch name taken: the next second is used.
    The same goes for the name a rollback keeps the undone restore under."""
    before = table_fingerprints(pg15, database)
    record = backup(console)
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET)
    stamp = plan.stamp
    leftover = plan.scratch_name
    pg15.createdb(leftover)
    result = restorer.run(plan, SECRET)
    assert plan.stamp == next_second(stamp) and result.previous == f"{database}__pre_restore_{next_second(stamp)}"
    assert leftover in pg15.databases() and result.previous in pg15.databases()
    assert table_fingerprints(pg15, database) == before
    monkeypatch.setattr(restore_module, "now_stamp", lambda: stamp)
    pg15.createdb(f"{database}__undone_{stamp}")
    _, undone = restorer.rollback(profile)
    assert undone == f"{database}__undone_{next_second(stamp)}"
    assert table_fingerprints(pg15, undone) == before


def next_second(stamp: str) -> str:
    return (datetime.strptime(stamp, "%Y%m%d%H%M%S") + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")


def test_a_scratch_database_the_server_refuses_is_a_plain_error(console, profile, pg15, database, monkeypatch):
    record = backup(console)
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET, new_database=f"{database}_copy")
    assert plan.ready, plan.checks
    pg15.createdb(f"{database}_copy")  # taken after the pre-flight looked
    with pytest.raises(DatabaseError, match=f"Could not create the database {database}_copy") as caught:
        restorer.run(plan, SECRET)
    assert "Nothing was changed" in caught.value.hint
    assert ("restore", "failed") in [(e.action, e.result) for e in console.audit.entries()]
