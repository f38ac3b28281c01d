"""Pruning recovery sets (#18) against real PostgreSQL: each set of a profile is one unit of the plan, deleted manifest
first; a pinned set and the newest fully verified one stay; a damaged set is reported and left whole; an unfinished
one is removed once a day old. On a local target and on the rclone S3 server; and the quota counts sets' files."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.prune import prune
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord
from recovery_console.engine.sets.set_import import import_set
from recovery_console.engine.sets.set_listing import delete_set, find_set, list_sets, verify_set
from recovery_console.engine.space_guard import room
from recovery_console.engine.state.pins import Pin
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import ExitCode, QuotaExceededError, UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.retention import RetentionRules
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.integration.test_s3 import FakeSecrets

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 20, 2, tzinfo=UTC)


@pytest.fixture
def records_profile(console, local_target, pg15, pg_server_factory, tmp_path):
    """Profile 'records': a real PG15 database and a vault folder, so each backup is a set of two members."""
    name = pg15.createdb(f"prune_{uuid.uuid4().hex[:8]}")
    pg15.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 200)", db=name)
    console.profiles.create("records", pg15.dsn(name), target=local_target,
                            tool_dirs=[str(pg_server_factory.bin_dir(15))])
    console.profiles.set_mode("records", ConnectionMode.DIRECT, acknowledge_direct=True)
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "a.txt").write_text("ünïcode\n", "utf-8")
    ProfileMembers(console.profiles).add_folder("records", "vault", str(vault))
    return name


def _sets(console, days: range) -> list[SetRecord]:
    """One set per day at 02:00 UTC from START, oldest first."""
    return [backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS,
                       now=lambda d=day: START + timedelta(days=d)) for day in days]


def _folders(target: Path) -> set[str]:
    """The set folders holding any file (a deleted set's emptied folder stays on a local target)."""
    return {p.parent.name + "/" for p in (target / "sets").rglob("*") if p.is_file()}


def _name(record: SetRecord) -> str:
    return record.folder.removeprefix("sets/")


def test_keep_rules_count_sets_and_a_set_goes_manifest_first_audited(console, records_profile, tmp_path,
                                                                      monkeypatch):
    made = _sets(console, range(5))
    storage = console.storage("vault")
    deleted_keys: list[str] = []
    real_delete = storage.delete

    def recording_delete(key: str) -> None:
        deleted_keys.append(key)
        real_delete(key)

    monkeypatch.setattr(storage, "delete", recording_delete)
    report = prune(console, "records", RetentionRules(keep_last=2))

    assert report.complete and {line.record.key for line in report.deleted} == {r.folder for r in made[:3]}
    assert _folders(tmp_path / "target") == {_name(r) for r in made[3:]}  # two sets of two members each stay
    assert all(isinstance(line.record, SetRecord) for line in report.plans[0].lines)
    for record in made[:3]:  # the manifest is the first file of each set to go
        mine = [k for k in deleted_keys if k.startswith(record.folder)]
        assert mine[0] == record.folder + "manifest.enc" and len(mine) == 6
    entries = [e for e in console.audit.entries() if e.action == "backup.delete-set"]
    assert len(entries) == 3 and all(e.result == "ok" for e in entries)
    assert entries[0].detail["plan"] == "delete set" and entries[0].detail["by"] == "prune"
    assert entries[0].detail["rule"] == "not kept by: keep last 2" and entries[0].detail["files"] == 6
    assert [s.folder for s in list_sets(console)[0]] == [made[4].folder, made[3].folder]


def test_dry_run_and_json_list_each_set_as_one_line(console, records_profile, tmp_path, monkeypatch, capsys):
    made = _sets(console, range(4))
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["backup", "prune", "--profile", "records", "--keep-last", "1", "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    lines = data["plans"][0]["backups"]
    assert [(line["key"], line["plan"]) for line in lines] == [
        (made[3].folder, "keep set (last 1)"), (made[2].folder, "delete set"), (made[1].folder, "delete set"),
        (made[0].folder, "delete set")]
    assert [line["id"] for line in lines] == [r.short_id for r in reversed(made)]
    assert _folders(tmp_path / "target") == {_name(r) for r in made}  # a dry run deletes nothing

    assert main(["backup", "prune", "--profile", "records", "--keep-last", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Target vault (keep last 1): keep 1, delete 3"
    assert len(out) == 6 and out[1].split()[0] == made[3].short_id and out[2].endswith("delete set")


def _unfinished(target: Path, stamp: str, short: str, age_seconds: float) -> str:
    """A set folder with a member file but no manifest (a killed writer), its files `age_seconds` old."""
    folder = target / "sets" / f"rc_set_{stamp}-0.1.0-manual-{short}"
    folder.mkdir(parents=True)
    for name in ("01-database.enc", "01-database.enc.sha256"):
        (folder / name).write_bytes(os.urandom(100))
        when = time.time() - age_seconds
        os.utime(folder / name, (when, when))
    return folder.name + "/"


def test_pinned_verified_damaged_and_unfinished_sets_in_one_prune(console, records_profile, tmp_path, monkeypatch,
                                                                  capsys):
    made = _sets(console, range(6))
    target = tmp_path / "target"
    console.pins.add(Pin("vault", made[0].folder, "case 42", "2026-12-07T00:00:00Z", "tester@host"))
    verify_set(console, find_set(console, made[1].short_id), SECRET)
    (target / made[4].folder / "02-folder.enc").unlink()  # the second newest set is damaged, and held
    console.pins.add(Pin("vault", made[4].folder, "case 43", "2026-12-07T00:00:00Z", "tester@host"))
    damaged_left = sorted(p.name for p in (target / made[4].folder).iterdir())
    old = _unfinished(target, "20261101-02-00-00", "0ddba11a", 2 * 86400)
    fresh = _unfinished(target, "20261207-02-00-00", "f4e5a11e", 60)

    report = prune(console, "records", RetentionRules(keep_last=2))
    texts = {line.record.key: line.text for line in report.plans[0].lines}
    assert texts[made[5].folder] == "keep set (last 2)"
    assert texts[made[4].folder] == ("keep set (pinned: case 43, damaged, never deleted by a prune nor counted by "
                                     "its rules: member file 02-folder.enc is missing)")
    assert texts[made[3].folder] == "keep set (last 2)"  # the damaged set did not stand in for it
    assert texts[made[2].folder] == "delete set"
    assert texts[made[1].folder] == "keep set (newest fully verified)"
    assert texts[made[0].folder] == "keep set (pinned: case 42)"
    assert texts["sets/" + old].startswith("delete set (unfinished: no manifest, its newest file from ")
    assert texts["sets/" + fresh].startswith("keep set (unfinished: no manifest, its newest file is from ")
    assert report.complete and [line.record.key for line in report.deleted] == [made[2].folder, "sets/" + old]

    assert _folders(target) == {_name(r) for r in (made[5], made[4], made[3], made[1], made[0])} | {fresh}
    assert sorted(p.name for p in (target / made[4].folder).iterdir()) == damaged_left  # left whole, not trimmed
    sweeps = [e for e in console.audit.entries() if e.action == "backup.sweep-unfinished-set"]
    assert len(sweeps) == 1 and sweeps[0].detail["files"] == 2

    pinned = find_set(console, made[0].short_id)  # a pinned set refuses a delete by hand too
    with pytest.raises(UsageError, match="pinned"):
        delete_set(console, pinned)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["backup", "delete", made[0].short_id, "--yes"]) == ExitCode.USAGE
    assert "pinned (legal hold: case 42)" in capsys.readouterr().err
    assert _name(made[0]) in _folders(target)


def test_a_set_of_another_profile_or_of_none_is_not_pruned(console, records_profile, tmp_path, sample_dump):
    made = _sets(console, range(2))
    console.profiles.create("other", "postgresql://backup@db.internal:5432/other", target="vault")
    imported = import_set(console, [sample_dump], "nightly", "vault", SECRET, iterations=FAST_ITERATIONS)
    assert imported.manifest.profile == ""  # no profile named: nobody's to prune
    report = prune(console, "records", RetentionRules(keep_last=1))
    assert [line.record.key for line in report.deleted] == [made[0].folder]
    assert _folders(tmp_path / "target") == {_name(made[1]), _name(imported)}

    with console.catalog.transaction() as db:  # manifests never read here (a rebuilt catalog): owners unknown
        db.execute("UPDATE sets SET manifest = NULL")
    shared = prune(console, "records", RetentionRules(keep_last=1), dry_run=True)
    assert shared.plans[0].lines == []  # another profile uses the target: no unknown set is taken as this one's
    console.profiles.remove("other")
    alone = prune(console, "records", RetentionRules(keep_last=1), dry_run=True)  # as for name-only backups
    assert [(line.record.key, line.text) for line in alone.plans[0].lines] == [
        (imported.folder, "keep set (newest fully verified, last 1)"), (made[1].folder, "delete set")]


def test_sets_on_s3_are_pruned_whole(console, records_profile, rclone_s3, s3_target):
    console.secrets = FakeSecrets()
    console.add_target(s3_target, {"secret_access_key": rclone_s3.secret_key})
    console.profiles.set_target("records", s3_target.name)
    made = _sets(console, range(3))
    storage = console.storage(s3_target.name)
    verify_set(console, made[2], SECRET)
    report = prune(console, "records", RetentionRules(keep_last=1))
    assert report.complete and len(report.deleted) == 2
    keys = sorted(info.key for info in storage.list("sets/"))
    assert keys and all(k.startswith(made[2].folder) for k in keys) and len(keys) == 6
    assert [s.folder for s in list_sets(console, [s3_target.name])[0]] == [made[2].folder]


def test_the_quota_counts_the_files_of_sets(console, local_target, tmp_path, sample_dump):
    made = import_set(console, [sample_dump], "nightly", "vault", SECRET, iterations=FAST_ITERATIONS)
    config = console.targets.get("vault")
    console.update_target(dataclasses.replace(config, quota=made.size + 4096))
    storage = console.storage("vault")
    assert storage.quota_used() == made.size
    left, how = room(storage)
    assert left == 4096 and how.startswith("left of the")
    with pytest.raises(QuotaExceededError, match="quota"):
        console.upload(sample_dump, "vault", SECRET)
    assert console.list_backups()[0] == [] and not list((tmp_path / "target").glob("backups/*"))
    with pytest.raises(QuotaExceededError, match="quota"):  # a second set is refused too, and leaves nothing
        import_set(console, [sample_dump], "again", "vault", SECRET, iterations=FAST_ITERATIONS)
    assert [s.folder for s in list_sets(console)[0]] == [made.folder]
    assert _folders(tmp_path / "target") == {_name(made)}


def test_a_prune_killed_after_a_manifest_went_leaves_an_unfinished_set_the_next_prune_removes(
        console, records_profile, tmp_path):
    made = _sets(console, range(2))
    target = tmp_path / "target"
    SetCatalog(console.catalog).forget(made[0].target, made[0].folder)  # what a kill right after delete_set's first
    (target / made[0].folder / "manifest.enc").unlink()  # two steps leaves
    sets, synced = list_sets(console)
    assert [s.folder for s in sets] == [made[1].folder] and len(synced[0].unfinished) == 1  # never listed
    report = prune(console, "records", RetentionRules(keep_last=1), dry_run=True)
    assert report.plans[0].lines[-1].text.startswith("keep set (unfinished")  # its files are fresh: maybe a writer
    for path in (target / made[0].folder).iterdir():
        os.utime(path, (time.time() - 2 * 86400,) * 2)
    report = prune(console, "records", RetentionRules(keep_last=1))
    assert [line.record.key for line in report.deleted] == [made[0].folder]
    assert _folders(target) == {_name(made[1])}


def test_a_pruned_sets_folder_that_stays_is_named_in_the_prune_text_and_json(console, records_profile, tmp_path,
                                                                             monkeypatch, capsys):
    """A pruned set whose folder holds a file the set did not write: the set goes, the folder and the file stay, and
    the prune says so (as `backup delete` of one set does), in its text, its --json and its audit entry."""
    made = _sets(console, range(3))
    stray = tmp_path / "target" / made[0].folder / "operator notes.txt"
    stray.write_text("why this set was kept\n", "utf-8")
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["backup", "prune", "--profile", "records", "--keep-last", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [kept] = data["folders_kept"]
    assert made[0].folder.rstrip("/") in kept and "(operator notes.txt)" in kept
    assert [line["id"] for line in data["deleted"]] == [made[0].short_id]
    assert stray.read_text("utf-8") == "why this set was kept\n"
    assert [r.short_id for r in list_sets(console)[0]] == [made[2].short_id, made[1].short_id]

    _sets(console, range(3, 4))
    (tmp_path / "target" / made[1].folder / "sub").mkdir()
    (tmp_path / "target" / made[1].folder / "sub" / "x").write_bytes(b"x")
    assert main(["backup", "prune", "--profile", "records", "--keep-last", "2"]) == 0
    out = capsys.readouterr().out
    assert "Deleted 1 backup." in out and "Warning: The set's folder" in out and "(sub/x)" in out
    entry = [e for e in console.audit.entries() if e.action == "backup.prune"][-1]
    assert entry.detail["folders_kept"] == 1
