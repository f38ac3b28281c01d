"""The restore history against a real PostgreSQL 15: a restore in place is listed with the previous database it
kept and that database's size read live; rollback and drop work from the history; a dropped or vanished previous
database shows as gone and can be neither rolled back to nor dropped."""

from __future__ import annotations

import json
import uuid

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_kept import DROPPED, GONE, KEPT, REPLACED, drop_previous, history, rollback_entry
from recovery_console.engine.state import restore_history
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import Cancelled, ExitCode, UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET

pytestmark = [pytest.mark.integration]


@pytest.fixture
def app(tmp_path) -> Console:
    console = Console(AppPaths.default())
    folder = tmp_path / "target"
    folder.mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    return console


@pytest.fixture
def restored(app, pg15, sample_database):
    """Profile `p` on a fresh sample database, backed up and restored in place once: (database, backup, result)."""
    database = sample_database(pg15, f"hist_{uuid.uuid4().hex[:8]}")
    app.profiles.create("p", pg15.dsn(database), target="vault")
    app.profiles.set_mode("p", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = backup_database(app, "p", secret=SECRET)
    restorer = Restorer(app)
    result = restorer.run(restorer.preflight("p", app.locate(record.short_id), SECRET), SECRET)
    return database, record, result


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_in_place_restore_is_listed_with_its_kept_database_and_live_size(app, pg15, restored, capsys):
    database, record, result = restored
    rows = history(app, "p").rows
    assert len(rows) == 1
    row = rows[0]
    assert (row.entry.result, row.entry.mode, row.entry.database) == ("succeeded", "in place", database)
    assert row.entry.backup_id == record.backup_id and row.entry.previous == result.previous
    oid = int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{result.previous}'"))
    size = int(pg15.psql(f"SELECT pg_database_size('{result.previous}')"))
    assert row.entry.previous_oid == oid
    assert row.state == KEPT and row.size == size and row.can_roll_back and row.can_drop

    code, out = run_cli(capsys, "restore", "history", "--profile", "p", "--json")
    assert code == ExitCode.OK
    listed = json.loads(out)["entries"]
    assert [(e["id"], e["previous"], e["kept_state"], e["kept_size"]) for e in listed] == [
        (row.entry.id, result.previous, "kept", size)]
    code, out = run_cli(capsys, "restore", "history", "--profile", "p")
    assert code == ExitCode.OK and result.previous in out and "succeeded" in out


def test_rollback_from_history_marks_the_entry_rolled_back(app, pg15, restored, table_fingerprints, capsys):
    database, _, result = restored
    previous_data = table_fingerprints(pg15, result.previous)
    entry = history(app, "p").rows[0].entry
    code, out = run_cli(capsys, "restore", "rollback", "--profile", "p", entry.id, "--yes", "--json")
    assert code == ExitCode.OK, out
    assert json.loads(out)["restored_from"] == result.previous
    assert table_fingerprints(pg15, database) == previous_data
    row = history(app, "p").rows[0]
    undone = row.entry.undone
    assert row.entry.result == "rolled back" and row.set_aside and row.kept == undone in pg15.databases()
    assert row.entry.undone_oid == int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{undone}'"))
    assert row.state == KEPT and row.size and not row.can_roll_back and row.can_drop
    with pytest.raises(UsageError, match="cannot be rolled back"):
        rollback_entry(app, "p", entry.id)

    code, out = run_cli(capsys, "restore", "drop", "--profile", "p", entry.id, "--confirm", undone, "--json")
    assert code == ExitCode.OK and json.loads(out) == {"dropped": undone}
    assert undone not in pg15.databases() and table_fingerprints(pg15, database) == previous_data
    row = history(app, "p").rows[0]
    assert row.entry.result == "rolled back" and row.state == DROPPED and not row.can_drop


def test_drop_needs_the_exact_name_typed_and_then_shows_dropped(app, pg15, restored, capsys):
    _, _, result = restored
    code, out = run_cli(capsys, "restore", "drop", "--profile", "p", result.previous, "--confirm", "wrong", "--json")
    assert code == ExitCode.USAGE and "does not match" in out
    assert result.previous in pg15.databases()
    code, out = run_cli(capsys, "restore", "drop", "--profile", "p", result.previous, "--json")
    assert code == ExitCode.USAGE and result.previous in pg15.databases()

    code, out = run_cli(capsys, "restore", "drop", "--profile", "p", result.previous, "--confirm", result.previous,
                        "--json")
    assert code == ExitCode.OK, out
    assert json.loads(out) == {"dropped": result.previous}
    assert result.previous not in pg15.databases()
    row = history(app, "p").rows[0]
    assert row.entry.result == "previous dropped" and not row.can_drop
    actions = [(e.action, e.result, e.object) for e in app.audit.entries() if e.action == "restore.drop_previous"]
    assert actions[-1] == ("restore.drop_previous", "ok", result.previous)
    assert ("restore.drop_previous", "failed", result.previous) in actions  # the wrong confirmation


def test_a_vanished_or_replaced_previous_is_gone_not_restorable(app, pg15, restored):
    database, _, result = restored
    pg15.psql(f'DROP DATABASE "{result.previous}"')
    row = history(app, "p").rows[0]
    assert row.state == GONE and row.size is None and not row.can_roll_back and not row.can_drop
    with pytest.raises(UsageError, match="no longer exists"):
        rollback_entry(app, "p", row.entry.id)

    pg15.psql(f'CREATE DATABASE "{result.previous}"')  # someone else's database under the same name
    row = history(app, "p").rows[0]
    assert row.state == REPLACED and not row.can_drop
    with pytest.raises(UsageError, match="is not a database this console keeps"):
        drop_previous(app, "p", result.previous, confirm=result.previous)
    assert result.previous in pg15.databases()
    assert database in pg15.databases()


def test_a_failed_restore_is_recorded_failed_with_nothing_kept(app, pg15, restored):
    database, record, _ = restored
    restorer = Restorer(app)
    plan = restorer.preflight("p", app.locate(record.short_id), SECRET, new_database=database)
    plan.new_database = True  # the name is taken: creating it fails on the server
    plan.checks = [c for c in plan.checks if c.status != "fail"]
    with pytest.raises(Exception, match="Could not create"):
        restorer.run(plan, SECRET)
    entries = restore_history.entries(app.paths, "p")
    assert [e.result for e in entries] == ["failed", "succeeded"]
    assert entries[0].previous is None and "Could not create" in entries[0].error


def test_a_cancelled_restore_is_recorded_cancelled_and_the_original_kept(app, pg15, restored, table_fingerprints):
    database, record, _ = restored
    before = table_fingerprints(pg15, database)
    token = CancelToken()
    reporter = Reporter(sink=lambda progress: token.cancel(), token=token, min_interval=0.0)
    restorer = Restorer(app)
    plan = restorer.preflight("p", app.locate(record.short_id), SECRET)
    with pytest.raises(Cancelled):
        restorer.run(plan, SECRET, reporter=reporter)
    newest = restore_history.entries(app.paths, "p")[0]
    assert (newest.result, newest.previous) == ("cancelled", None)
    assert table_fingerprints(pg15, database) == before
    assert [r.entry.result for r in history(app, "p").rows] == ["cancelled", "succeeded"]
