"""Restore safety against a real PostgreSQL 15: another database's backup needs an acknowledgement, and a restore
the server stopped leaves a journal from which the console drops exactly what it made once the server is back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.progress import Progress, Reporter
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_cleanup import clean_up
from recovery_console.engine.restore_preflight import CHECKED_NOTE, OTHER_DATABASE, SCRATCH_INFIX, lock_identity
from recovery_console.engine.state import restore_journal
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import DatabaseError, ExitCode, UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET

pytestmark = [pytest.mark.integration]


@pytest.fixture
def app(tmp_path) -> Console:
    """A console in RECOVERY_CONSOLE_HOME (so the CLI sees the same one) with a local target."""
    console = Console(AppPaths.default())
    folder = tmp_path / "target"
    folder.mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    return console


@pytest.fixture
def secret_file(tmp_path) -> Path:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    return path


def add_profile(console: Console, name: str, dsn: str) -> str:
    console.profiles.create(name, dsn, target="vault")
    console.profiles.set_mode(name, ConnectionMode.DIRECT, acknowledge_direct=True)
    return name


def scratch_copies(pg, database: str) -> list[str]:
    return [d for d in pg.databases() if d.startswith(database + SCRATCH_INFIX)]


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture
def two_databases(app, pg15, sample_database):
    """Profile `app` on database app_…, with a backup of it; profile `big` on another database big_…."""
    tag = uuid.uuid4().hex[:8]
    source, other = sample_database(pg15, f"app_{tag}"), sample_database(pg15, f"big_{tag}")
    add_profile(app, "app", pg15.dsn(source))
    add_profile(app, "big", pg15.dsn(other))
    record = backup_database(app, "app", secret=SECRET)
    return source, other, record


def test_another_databases_backup_needs_an_acknowledgement(app, pg15, two_databases, table_fingerprints):
    source, other, record = two_databases
    restorer = Restorer(app)
    same = restorer.preflight("app", app.locate(record.short_id), SECRET)
    assert same.ready and [c.status for c in same.checks if c.name == OTHER_DATABASE] == ["pass"]

    plan = restorer.preflight("big", app.locate(record.short_id), SECRET)
    check = next(c for c in plan.checks if c.name == OTHER_DATABASE)
    assert check.status == "warn" and check.needs_ack and source in check.detail and other in check.detail
    assert not plan.ready and plan.unacknowledged == [check]
    before = table_fingerprints(pg15, other)
    with pytest.raises(UsageError, match="not acknowledged"):
        restorer.run(plan, SECRET)
    assert table_fingerprints(pg15, other) == before and scratch_copies(pg15, other) == []

    plan = restorer.preflight("big", app.locate(record.short_id), SECRET, allow_other_database=True)
    assert plan.ready
    # Into a new database the backup's name does not matter.
    new = restorer.preflight("big", app.locate(record.short_id), SECRET, new_database=f"{other}_new")
    assert new.ready and all(c.name != OTHER_DATABASE for c in new.checks)


def test_a_backup_recording_no_database_needs_an_acknowledgement(app, pg15, sample_database, sample_dump):
    database = sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")
    add_profile(app, "app", pg15.dsn(database))
    with open(sample_dump, "rb") as stream:
        record = app.create_backup(stream, "vault", SECRET, source_name=sample_dump.name)
    assert record.metadata.database is None
    plan = Restorer(app).preflight("app", app.locate(record.short_id), SECRET)
    check = next(c for c in plan.checks if c.name == OTHER_DATABASE)
    assert check.needs_ack and "does not record" in check.detail and not plan.ready


def test_cli_refuses_another_databases_backup_without_the_flag(capsys, app, pg15, two_databases, secret_file,
                                                               table_fingerprints):
    source, other, record = two_databases
    before = table_fingerprints(pg15, other)
    secret = ("--secret-key-file", str(secret_file))
    code, out = run_cli(capsys, "restore", "preflight", record.short_id, "--profile", "big", *secret)
    assert code == ExitCode.VERIFY_FAILED and "--allow-other-database" in out and f"of database {source}" in out
    code, out = run_cli(capsys, "restore", "run", record.short_id, "--profile", "big", "--yes", *secret)
    assert code == ExitCode.USAGE and "--allow-other-database" in out, out
    assert table_fingerprints(pg15, other) == before
    code, out = run_cli(capsys, "restore", "preflight", record.short_id, "--profile", "big",
                        "--allow-other-database", *secret)
    assert code == ExitCode.OK and "Ready to restore" in out, out
    code, out = run_cli(capsys, "restore", "run", record.short_id, "--profile", "big", "--yes",
                        "--allow-other-database", *secret)
    assert code == ExitCode.OK, out
    assert table_fingerprints(pg15, other) == table_fingerprints(pg15, source)


@pytest.fixture
def own_server(pg_server_factory, request):
    """A private PostgreSQL 15 this test may stop and start."""
    pg = pg_server_factory.new(15)
    request.addfinalizer(pg.remove)
    return pg


def test_server_stopped_mid_restore_leaves_a_journal_and_cleanup_drops_only_the_scratch_copy(
        capsys, app, own_server, sample_database, table_fingerprints):
    pg = own_server
    database = sample_database(pg, "big", scale=3)
    add_profile(app, "prod", pg.dsn(database))
    record = backup_database(app, "prod", secret=SECRET)
    pg.psql("CREATE DATABASE unrelated_db")
    before = table_fingerprints(pg, database)
    restorer = Restorer(app)
    plan = restorer.preflight("prod", app.locate(record.short_id), SECRET)
    assert plan.ready

    stopped: list[bool] = []

    def stop_the_server(progress: Progress) -> None:
        if not stopped and progress.done > 0 and scratch_copies(pg, database):
            stopped.append(True)
            pg.stop("immediate")

    with pytest.raises(DatabaseError) as failure:
        restorer.run(plan, SECRET, reporter=Reporter(sink=stop_the_server, min_interval=0))
    assert stopped
    scratch = plan.scratch_name
    hint = failure.value.hint
    assert f"The scratch copy {scratch} could not be dropped (server unreachable" in hint, hint
    assert "was dropped" not in hint
    journals = restore_journal.pending(app.paths, "prod")
    assert len(journals) == 1 and list(journals[0].created) == [scratch] and journals[0].state == "failed"
    assert journals[0].problem.startswith("server unreachable")
    on_disk = json.loads(journals[0].path.read_text())
    assert on_disk["created"] == journals[0].created

    # While the server is down, a clean-up says so and keeps the journal.
    report = clean_up(app, "prod")
    assert report.dropped == [] and [name for name, _ in report.not_dropped] == [scratch]
    assert "server unreachable" in report.not_dropped[0][1]
    assert len(restore_journal.pending(app.paths, "prod")) == 1

    pg.start()
    assert scratch in pg.databases()
    code, out = run_cli(capsys, "restore", "cleanup", "--profile", "prod")
    assert code == ExitCode.OK, out
    assert f"Dropped {scratch}." in out
    assert scratch not in pg.databases() and "unrelated_db" in pg.databases()
    assert table_fingerprints(pg, database) == before
    assert restore_journal.pending(app.paths) == []
    entry = [e for e in app.audit.entries() if e.action == "restore.cleanup"][-1]
    assert entry.result == "ok" and entry.detail["dropped"] == [scratch]


def test_cleanup_never_drops_a_database_the_journal_did_not_record_as_made(app, pg15, sample_database):
    database = sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")
    add_profile(app, "prod", pg15.dsn(database))
    profile = app.profiles.store.get("prod")
    mine, replaced, unconfirmed = (f"{database}{SCRATCH_INFIX}2026010100000{i}" for i in range(3))
    for name in (mine, replaced, unconfirmed):
        pg15.psql(f'CREATE DATABASE "{name}"')
    oid = int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{mine}'"))
    journal = restore_journal.begin(app.paths, "prod", database, lock_identity(profile, database))
    journal.made(mine, oid)
    journal.made(replaced, oid + 100_000)  # the name was dropped and made again by someone else since
    journal.will_create(unconfirmed)
    report = clean_up(app, "prod")
    assert report.dropped == [mine]
    assert {name for name, _ in report.not_dropped} == {replaced, unconfirmed}
    names = pg15.databases()
    assert mine not in names and replaced in names and unconfirmed in names and database in names
    assert restore_journal.pending(app.paths) == []


def test_the_next_restore_drops_what_an_earlier_one_left(app, pg15, sample_database):
    database = sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")
    add_profile(app, "prod", pg15.dsn(database))
    profile = app.profiles.store.get("prod")
    record = backup_database(app, "prod", secret=SECRET)
    left = f"{database}{SCRATCH_INFIX}20260101000000"
    pg15.psql(f'CREATE DATABASE "{left}"')
    journal = restore_journal.begin(app.paths, "prod", database, lock_identity(profile, database))
    journal.made(left, int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{left}'")))
    journal.finish("failed", "server unreachable")
    restorer = Restorer(app)
    result = restorer.run(restorer.preflight("prod", app.locate(record.short_id), SECRET), SECRET)
    assert f"Left by an earlier restore: Dropped {left}." in result.warnings
    assert left not in pg15.databases()
    assert restore_journal.pending(app.paths) == []
    restorer.rollback("prod")


def test_a_database_its_restore_finished_is_kept_even_if_the_journal_still_records_it(app, pg15, sample_database):
    """A new database's journal entry is let go without waiting for the disk once its committed mark says the
    restore checked it in full; if that removal is lost (power cut), clean-up finds the mark and keeps it."""
    database = sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")
    add_profile(app, "prod", pg15.dsn(database))
    profile = app.profiles.store.get("prod")
    record = backup_database(app, "prod", secret=SECRET)
    restored, unfinished = f"new_{uuid.uuid4().hex[:8]}", f"{database}{SCRATCH_INFIX}20260101000000"
    restorer = Restorer(app)
    restorer.run(restorer.preflight("prod", app.locate(record.short_id), SECRET, new_database=restored), SECRET)
    assert restore_journal.pending(app.paths) == []  # the journal went with the restore's end
    pg15.psql(f'CREATE DATABASE "{unfinished}"')
    pg15.psql(f"COMMENT ON DATABASE \"{unfinished}\" IS 'Restored by someone else, not the console'")
    journal = restore_journal.begin(app.paths, "prod", database, lock_identity(profile, database))
    for name in (restored, unfinished):  # as the journal stood before the restore let its database go
        journal.made(name, int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'")))
    [warned] = [c for c in restorer.preflight("prod", app.locate(record.short_id), SECRET).checks
                if c.name == "left by an earlier restore"]
    assert warned.detail.startswith(f"{unfinished} (made by a restore that failed) will be dropped")
    report = clean_up(app, "prod")
    assert report.finished == [restored] and report.dropped == [unfinished]
    assert f"Kept {restored}: its restore finished and checked it (the database carries the mark)." in report.lines()
    assert restored in pg15.databases() and unfinished not in pg15.databases()
    assert restore_journal.pending(app.paths) == []
    pg15.dropdb(restored)


def test_an_in_place_restore_stopped_after_its_swap_is_reported_as_swapped_in_and_an_unswapped_copy_dropped(
        app, pg15, sample_database):
    """An in-place restore lets its checked copy go without waiting for the disk; a kill before the journal is
    removed leaves the copy listed, and the server tells the clean-up what it became: swapped in (its OID has the
    database's name now: reported, touched nowhere) or still a copy (dropped, as before its check)."""
    database = sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")
    add_profile(app, "prod", pg15.dsn(database))
    profile = app.profiles.store.get("prod")
    record = backup_database(app, "prod", secret=SECRET)
    restorer = Restorer(app)
    plan = restorer.preflight("prod", app.locate(record.short_id), SECRET)
    result = restorer.run(plan, SECRET)
    assert restore_journal.pending(app.paths) == []
    checked = f"{database}{SCRATCH_INFIX}20260101000000"
    pg15.psql(f'CREATE DATABASE "{checked}"')
    pg15.psql(f"COMMENT ON DATABASE \"{checked}\" IS '{CHECKED_NOTE} {record.backup_id}'")
    journal = restore_journal.begin(app.paths, "prod", database, lock_identity(profile, database))
    swapped_oid = int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{database}'"))
    journal.made(plan.scratch_name, swapped_oid)  # as it stood on disk when the swap committed
    journal.made(checked, int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{checked}'")))
    [warned] = [c for c in restorer.preflight("prod", app.locate(record.short_id), SECRET).checks
                if c.name == "left by an earlier restore"]  # the pre-flight names only what will be dropped
    assert warned.detail == f"{checked} (made by a restore that failed) will be dropped when this restore starts"
    again = restorer.run(restorer.preflight("prod", app.locate(record.short_id), SECRET), SECRET)  # cleans first
    assert (f"Left by an earlier restore: {plan.scratch_name} had been swapped in as {database} when its restore "
            "was stopped; the original is kept under its pre-restore name (roll back from the restore history if "
            "that is not wanted).") in again.warnings
    assert f"Left by an earlier restore: Dropped {checked}." in again.warnings
    assert result.previous in pg15.databases() and checked not in pg15.databases()
    assert int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{again.previous}'")) == swapped_oid
    assert restore_journal.pending(app.paths) == []
    restorer.rollback("prod")
