"""Catalog sync: when a listed object still counts as the one recorded, and keeps what we knew of it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.state.catalog import _SCHEMA, Catalog
from recovery_console.engine.storage.base import ObjectInfo
from recovery_console.errors import RecoveryError
from recovery_console.models.backup import BackupMetadata
from tests.fixtures.console import SECRET

KEY = "backups/rc_backup_20261202-05-45-46-0.1.0-manual-e2a16e2c.enc"
METADATA = BackupMetadata(backup_id="e2a16e2c-0000-4000-8000-000000000000", created_at="2026-12-02T05:45:46Z",
                          app_version="0.1.0", mode="manual")


class Listed:
    """Just what Catalog.sync and Catalog.add ask of a target: its name and what it lists."""

    name = "offsite"

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info

    def list(self, prefix: str) -> list[ObjectInfo]:
        return [self.info]

    def stat(self, key: str) -> ObjectInfo:
        return self.info


def catalog_with(tmp_path: Path, info: ObjectInfo) -> Catalog:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.add(Listed(info), KEY, METADATA, "ab" * 32)
    catalog.remember_verify(catalog.get("offsite", KEY), "ok", "full")
    return catalog


def test_an_etag_that_agrees_outweighs_a_modification_time_a_second_off(tmp_path: Path) -> None:
    """rclone serve s3 answered a HEAD just after the upload with one second and a later listing with the next."""
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0, "e1"))
    relisted = ObjectInfo(KEY, 100, 1001.0, "e1")
    result = catalog.sync(Listed(relisted))
    assert (result.unchanged, result.changed) == (1, 0)
    record = catalog.get("offsite", KEY)
    assert record.metadata == METADATA and record.mtime == 1001.0
    assert catalog.full_verify_of("offsite", ObjectInfo(KEY, 100, 1000.0, "e1")) is not None


def test_a_different_etag_is_a_different_object(tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0, "e1"))
    assert catalog.sync(Listed(ObjectInfo(KEY, 100, 1000.0, "e2"))).changed == 1
    assert catalog.get("offsite", KEY).metadata is None
    assert catalog.full_verify_of("offsite", ObjectInfo(KEY, 100, 1000.0, "e2")) is None


def test_without_etags_the_modification_time_decides(tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0))
    assert catalog.full_verify_of("offsite", ObjectInfo(KEY, 100, 1001.0)) is None
    assert catalog.sync(Listed(ObjectInfo(KEY, 100, 1001.0))).changed == 1
    assert catalog.get("offsite", KEY).metadata is None


def test_a_changed_file_keeps_its_failed_verdict_marked_as_changed(tmp_path: Path) -> None:
    """A tampered backup's FAILED verdict used to revert to "never" on the next listing."""
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0))
    catalog.remember_verify(catalog.get("offsite", KEY), "failed", "chunk 3 fails authentication")
    assert catalog.sync(Listed(ObjectInfo(KEY, 101, 1002.0))).changed == 1
    record = catalog.get("offsite", KEY)
    assert (record.verify_result, record.verify_detail) == ("failed", "chunk 3 fails authentication")
    assert record.verify_changed and record.size == 101
    catalog.remember_verify(record, "failed", "truncated")
    assert not catalog.get("offsite", KEY).verify_changed


def test_a_passed_verify_of_a_changed_file_is_no_longer_on_record(tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0))
    catalog.sync(Listed(ObjectInfo(KEY, 100, 1001.0)))
    record = catalog.get("offsite", KEY)
    assert record.verify_result == "ok" and record.verify_changed
    assert catalog.full_verify_of("offsite", ObjectInfo(KEY, 100, 1001.0)) is None


def test_the_history_keeps_every_outcome_and_unreachable_is_no_verdict(tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0))
    record = catalog.get("offsite", KEY)
    catalog.remember_unreachable(record, "target unreachable: the folder does not exist")
    catalog.remember_verify(record, "failed", "truncated")
    catalog.remember_unreachable(record, "target unreachable: again")
    assert catalog.get("offsite", KEY).verify_result == "failed"
    assert [event.outcome for event in catalog.verify_history(record)] == ["unreachable", "failed", "unreachable", "ok"]
    catalog.forget(record)
    assert catalog.verify_history(record) == []


def test_an_older_catalog_gains_the_history_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO backups (target, key, short_id, size, mtime, verified_at, verify_result, "
                   "verify_detail) VALUES ('offsite', ?, 'e2a16e2c', 100, 1000.0, '2026-12-02T06:00:00Z', "
                   "'ok', 'full')", (KEY,))
        db.commit()
    catalog = Catalog(path)
    record = catalog.get("offsite", KEY)
    assert record.verify_result == "ok" and not record.verify_changed
    assert catalog.verify_history(record) == []
    Catalog(path)  # opening it again migrates nothing twice


def test_a_verify_that_cannot_reach_the_target_is_no_verdict(console: Console, make_backup: Any,
                                                             tmp_path: Path) -> None:
    """A verify while the target folder was missing must not store a good backup as FAILED."""
    record = make_backup()
    ref = console.locate(record.short_id)
    console.verify(ref, SECRET)
    (tmp_path / "target").rename(tmp_path / "elsewhere")
    with pytest.raises(RecoveryError):
        console.verify(ref, SECRET)
    stored = console.catalog.get(record.target, record.key)
    assert stored.verify_result == "ok" and not stored.verify_changed
    history = console.catalog.verify_history(stored)
    assert [event.outcome for event in history] == ["unreachable", "ok"]
    assert history[0].detail.startswith("target unreachable")


def test_a_failed_target_test_is_audited_as_failed(console: Console, local_target: str, tmp_path: Path) -> None:
    (tmp_path / "target").rmdir()
    assert not console.test_target(local_target).ok
    (tmp_path / "target").mkdir()
    assert console.test_target(local_target).ok
    tests = [entry for entry in console.audit.entries() if entry.action == "target.test"]
    assert [(entry.result, entry.detail["ok"]) for entry in tests] == [("failed", False), ("ok", True)]


def test_a_new_catalog_and_its_write_ahead_log_are_private_to_their_owner(tmp_path: Path) -> None:
    """An attacker's note: catalog.sqlite3 was 0644 where every other file of the console is 0600."""
    catalog = catalog_with(tmp_path, ObjectInfo(KEY, 100, 1000.0, "e1"))
    made = [p for p in tmp_path.iterdir() if p.name.startswith("catalog.sqlite3") and not p.name.endswith("-lock")]
    assert catalog.path in made
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in made} == {p.name: "0o600" for p in made}
