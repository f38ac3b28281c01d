"""Prune, pin and unpin through the engine on a real local target: exactly the kept set stays on disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recovery_console import __version__
from recovery_console.cli.main import main
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.pinning import copies_of, pin, unpin
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.engine.prune import PruneRefused, prune
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.errors import UsageError
from recovery_console.models.backup import BackupMetadata
from recovery_console.models.retention import RetentionRules
from tests.fixtures.console import FAST_ITERATIONS, SECRET


def upload_dated(console, tmp_path: Path, sample_dump: Path, when: datetime, n: int):
    """A real backup of the sample archive made at `when`, imported into the target 'vault'."""
    metadata = BackupMetadata(backup_id=f"{n:08x}-0000-4000-8000-000000000000",
                              created_at=when.isoformat().replace("+00:00", "Z"), app_version=__version__,
                              mode="scheduled", database="app", compression="none", source="pg_dump")
    path = tmp_path / f"b{n}.enc"
    with open(sample_dump, "rb") as source, open(path, "wb") as sink:
        encrypt_stream(source, sink, SECRET, metadata, iterations=FAST_ITERATIONS)
    return console.upload(path, "vault", SECRET)


@pytest.fixture
def dated(console, local_target, tmp_path, sample_dump):
    """Twelve daily backups of profile prod's database 'app', 2026-11-20 .. 2026-12-01 at 02:00, oldest first."""
    console.profiles.create("prod", "postgresql://backup@db.internal:5432/app", target="vault")
    start = datetime(2026, 11, 20, 2, tzinfo=UTC)
    return [upload_dated(console, tmp_path, sample_dump, start + timedelta(days=d), d + 1) for d in range(12)]


def stored(console) -> set[str]:
    folder = Path(console.targets.get("vault").options["path"]) / "backups"
    return {p.name for p in folder.iterdir()}


def names(records) -> set[str]:
    return {r.file_name for r in records} | {r.file_name + ".sha256" for r in records}


def test_prune_leaves_exactly_the_kept_set_and_audits_each_deletion(console, dated):
    rules = RetentionRules(keep_last=2, keep_weekly=3)  # Dec 1, Nov 30; weeks 49 (Dec 1), 48 (Nov 29), 47 (Nov 22)
    report = prune(console, "prod", rules)
    kept = [dated[11], dated[10], dated[9], dated[2]]
    assert stored(console) == names(kept)
    assert {line.record.key for line in report.deleted} == {r.key for r in dated} - {r.key for r in kept}
    assert report.complete and not report.dry_run
    deletions = [e for e in console.audit.entries() if e.action == "backup.delete"]
    assert len(deletions) == 8 and all(e.result == "ok" for e in deletions)
    assert deletions[0].detail["plan"] == "delete"
    assert deletions[0].detail["rule"] == "not kept by: keep last 2, 3 weekly"
    assert deletions[0].detail["by"] == "prune" and deletions[0].detail["profile"] == "prod"
    assert [e.action for e in console.audit.entries()][-1] == "backup.prune"


def test_dry_run_deletes_nothing(console, dated):
    report = prune(console, "prod", RetentionRules(keep_last=1), dry_run=True)
    assert stored(console) == names(dated)
    assert len(report.plans[0].deleted) == 11 and report.deleted == []


def test_pinned_and_newest_verified_survive_a_prune_that_would_delete_them(console, dated):
    console.verify(console.locate("vault:" + dated[3].key), SECRET)  # full verify
    pin(console, dated[0].short_id, "incident 2026-11-20")
    report = prune(console, "prod", RetentionRules(keep_last=1))
    assert stored(console) == names([dated[11], dated[3], dated[0]])
    texts = {line.record.key: line.text for line in report.plans[0].lines}
    assert texts[dated[0].key] == "keep (pinned: incident 2026-11-20)"
    assert texts[dated[3].key] == "keep (newest fully verified)"


def _run(console, trigger: str, result: str, started: str) -> None:
    """A policy run of prod as the run history records it: its start, then its end."""
    record = RunRecord.start(trigger, "prod", "vault", started, None)
    RunHistory(console.paths).append(record)
    RunHistory(console.paths).append(record.finished(result, 1.0, reason="pg_dump: connection refused"
                                                     if result == "failed" else ""))


def test_no_prune_after_a_failed_run(console, dated, capsys, monkeypatch):
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(console.paths.config_dir.parent))
    _run(console, "scheduled", "ok", "2026-12-01T02:00:00Z")
    _run(console, "scheduled", "failed", "2026-12-02T02:00:00Z")
    _run(console, "scheduled", "busy", "2026-12-02T02:00:01Z")  # turned away: not a run that ended
    with pytest.raises(PruneRefused, match="last backup run failed"):
        prune(console, "prod", RetentionRules(keep_last=1))
    assert main(["backup", "prune", "--profile", "prod", "--keep-last", "1"]) == 1
    assert "its last backup run failed" in capsys.readouterr().err
    assert stored(console) == names(dated)
    refused = [e for e in console.audit.entries() if e.action == "backup.prune"][-1]
    assert refused.result != "ok" and "last backup run failed" in str(refused.detail)

    _run(console, "manual", "ok", "2026-12-02T09:00:00Z")  # 'Run now' succeeded: pruning goes ahead again
    prune(console, "prod", RetentionRules(keep_last=1))
    assert stored(console) == names([dated[11]])


def test_a_pinned_backup_refuses_a_manual_delete_and_survives_a_catalog_rebuild(console, dated):
    pin(console, dated[5].short_id, "case 4711")
    console.rebuild_catalog()
    assert console.pins.get("vault", dated[5].key).reason == "case 4711"
    with pytest.raises(UsageError, match=r"pinned \(legal hold: case 4711\)"):
        console.delete(console.locate(dated[5].short_id))
    assert dated[5].file_name in stored(console)
    failed = [e for e in console.audit.entries() if e.action == "backup.delete"]
    assert failed[-1].result == "failed"
    unpin(console, dated[5].short_id)
    console.delete(console.locate(dated[5].short_id))
    assert dated[5].file_name not in stored(console)
    with pytest.raises(UsageError, match="not pinned"):
        unpin(console, dated[4].short_id)
    assert [e.action for e in console.audit.entries() if e.action.endswith("pin")] == ["backup.pin", "backup.unpin"]


class PinsMidway(CancelToken):
    """Another console pins a backup while the prune runs (between its plan and its deletions)."""

    def __init__(self, console, ref: str) -> None:
        super().__init__()
        self.console, self.ref, self.done = console, ref, False

    def raise_if_cancelled(self) -> None:
        if not self.done:
            self.done = True
            pin(self.console, self.ref, "held during the prune")
        super().raise_if_cancelled()


def test_a_deletion_refused_midway_is_reported_exactly(console, dated):
    reporter = Reporter(token=PinsMidway(console, dated[1].short_id))
    report = prune(console, "prod", RetentionRules(keep_last=9), reporter=reporter)
    assert [f.line.record.key for f in report.failed] == [dated[1].key]
    assert "pinned" in report.failed[0].error.message
    assert {line.record.key for line in report.deleted} == {dated[0].key, dated[2].key}
    assert stored(console) == names(dated[3:] + [dated[1]])
    entry = [e for e in console.audit.entries() if e.action == "backup.prune"][-1]
    assert entry.result == "failed" and entry.detail["failed"] == 1 and entry.detail["deleted"] == 2


def test_copies_of_an_id_are_every_target_holding_its_key(console, dated, tmp_path):
    assert [r.key for r in copies_of(console, dated[0].short_id)] == [dated[0].key]
    with pytest.raises(UsageError, match="needs a reason"):
        pin(console, dated[0].short_id, "  ")


def test_cli_prune_prints_the_plan_then_applies_it(console, dated, monkeypatch, capsys):
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(console.paths.config_dir.parent))
    monkeypatch.setattr("recovery_console.engine.state.paths.AppPaths.default", classmethod(lambda cls: console.paths))
    assert main(["backup", "pin", dated[0].short_id, "--reason", "case 9"]) == 0
    assert main(["backup", "prune", "--profile", "prod", "--keep-last", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "keep (pinned: case 9)" in out and "keep (last 3)" in out and out.count("delete\n") == 8
    assert "Dry run: nothing was deleted." in out and stored(console) == names(dated)
    assert main(["backup", "prune", "--profile", "prod", "--keep-last", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["deleted"]) == 8 and data["not_deleted"] == []
    assert stored(console) == names(dated[9:] + [dated[0]])
    assert main(["backup", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["backups"]
    assert [b["pin"]["reason"] for b in listed if b["pin"]] == ["case 9"]
    assert main(["backup", "list"]) == 0
    assert "PINNED: case 9" in capsys.readouterr().out
    assert main(["backup", "prune", "--profile", "prod", "--keep-last", "0"]) == 2


def test_a_running_backup_of_the_same_database_makes_a_prune_busy(console, dated):
    from recovery_console.engine.state.locks import database_identity, database_lock
    from recovery_console.errors import BusyError

    identity = database_identity("postgresql://backup@db.internal:5432/app")
    with database_lock(console.paths, identity, "backup", "app"):
        with pytest.raises(BusyError, match="busy: backup of app started"):
            prune(console, "prod", RetentionRules(keep_last=1))
        assert stored(console) == names(dated)
        report = prune(console, "prod", RetentionRules(keep_last=1), lock_held=True)  # run-due holds it itself
    assert len(report.deleted) == 11 and stored(console) == names(dated[11:])
