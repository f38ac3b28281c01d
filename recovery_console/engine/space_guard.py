"""The free-space guard of a policy run: skip the backup, with the reason, when the target is too full.

The estimate is the profile's last backup × 1.25, or the database's size for its first. Room is the
medium's free space where the backend can tell (local `disk_usage`, SFTP `statvfs@openssh.com` where
the server offers it, SMB3 FileFsFullSizeInformation) and what is left of the target's quota (the only
measure on S3), whichever is smaller.
"""

from __future__ import annotations

from recovery_console.engine.state.catalog import Catalog
from recovery_console.engine.state.run_history import RunRecord
from recovery_console.engine.storage.base import Storage
from recovery_console.models.policy import MB, format_mb

GROWTH = 1.25


def estimate_size(history: list[RunRecord], catalog: Catalog, target: str, database: str) -> int | None:
    """The last backup's size × 1.25: the profile's last successful run, else the newest backup of the
    database on the target; None when there is none (the caller measures the database then)."""
    for record in reversed(history):
        if record.result == "ok" and record.bytes > 0:
            return round(record.bytes * GROWTH)
    for backup in catalog.records([target]):
        if backup.metadata is not None and backup.metadata.database == database:
            return round(backup.size * GROWTH)
    return None


def room(storage: Storage) -> tuple[int, str] | None:
    """Bytes the target can still take and how that was measured ('free', 'left of the … quota')."""
    measures: list[tuple[int, str]] = []
    free = storage.free_space()
    if free is not None:
        measures.append((free, "free"))
    if storage.quota is not None:
        left = max(0, storage.quota - storage.quota_used())
        measures.append((left, f"left of the {format_mb(storage.quota // MB)} quota"))
    return min(measures) if measures else None


def shortfall(storage: Storage, estimate: int, minimum: int) -> str | None:
    """Why the run must be skipped ('312 MB free < 500 MB minimum'), or None when there is room."""
    measured = room(storage)
    if measured is None:
        return None
    available, how = measured
    if available < minimum:
        return f"{_mb(available)} {how} < {_mb(minimum)} minimum"
    if available - estimate < minimum:
        return (f"{_mb(available)} {how}, a backup of about {_mb(estimate)} would leave "
                f"{_mb(max(0, available - estimate))} < {_mb(minimum)} minimum")
    return None


def _mb(size: int) -> str:
    return f"{size // MB:,} MB"
