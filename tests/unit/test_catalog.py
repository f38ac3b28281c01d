"""Catalog sync: when a listed object still counts as the one recorded, and keeps what we knew of it."""

from __future__ import annotations

from pathlib import Path

from recovery_console.engine.state.catalog import Catalog
from recovery_console.engine.storage.base import ObjectInfo
from recovery_console.models.backup import BackupMetadata

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
