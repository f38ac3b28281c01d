"""Legal holds and where each backup exists: pin and unpin (audited), copies across targets, usage per target
(backups and recovery sets).

A backup copied to several targets has the same object key on each; a pin holds one copy
(target + key), and `pin`/`unpin` by id act on every copy the id names, or on one with TARGET:KEY.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord
from recovery_console.engine.state.backup_ids import ambiguous, matching_records, split_target_key
from recovery_console.engine.state.named_store import usable_text
from recovery_console.engine.state.pins import Pin
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import UsageError
from recovery_console.models.backup import BackupRecord

MAX_REASON = 500


def copies_of(console: Console, ref: str, target: str | None = None) -> list[BackupRecord]:
    """Every catalog record of the one backup `ref` names (an id, or TARGET:KEY for one copy)."""
    addressed = split_target_key(ref, set(console.targets.load()))
    if addressed is not None:
        found = console.locate(ref)
        assert found.record is not None
        return [found.record]
    target_name = console.targets.resolve(target).name if target else None
    records = matching_records(console.catalog.records([target_name] if target_name else None), ref)
    if len({record.key for record in records}) > 1:
        raise ambiguous(ref, records)
    return records


def checked_reason(reason: str) -> str:
    """A hold's reason, stripped: never empty, printable, and short enough to show."""
    reason = reason.strip()
    if not reason:
        raise UsageError("A pin needs a reason (the incident or case it is held for).")
    usable_text(reason, "The reason")
    if len(reason) > MAX_REASON:
        raise UsageError(f"The reason is {len(reason)} characters long; keep it under {MAX_REASON}.")
    return reason


def pin(console: Console, ref: str, reason: str, target: str | None = None) -> list[Pin]:
    """Put every copy `ref` names on legal hold; each is its own audit entry."""
    reason = checked_reason(reason)
    pins = []
    for record in copies_of(console, ref, target):
        with console.audited("backup.pin", f"{record.target}:{record.key}", {"reason": reason}):
            held = Pin(record.target, record.key, reason, utc_now(), user_at_host())
            console.pins.add(held)
            pins.append(held)
    return pins


def unpin(console: Console, ref: str, target: str | None = None) -> list[BackupRecord]:
    """Release the hold on every copy `ref` names; the copies that were pinned."""
    released = []
    for record in copies_of(console, ref, target):
        held = console.pins.get(record.target, record.key)
        if held is None:
            continue
        with console.audited("backup.unpin", f"{record.target}:{record.key}", {"reason": held.reason}):
            console.pins.remove(record.target, record.key)
            released.append(record)
    if not released:
        raise UsageError(f"Backup '{ref}' is not pinned; nothing was changed.")
    return released


def copies(records: Iterable[BackupRecord]) -> dict[str, list[str]]:
    """Object key → the targets holding it (sorted), from the catalog's records."""
    where: dict[str, set[str]] = defaultdict(set)
    for record in records:
        where[record.key].add(record.target)
    return {key: sorted(targets) for key, targets in where.items()}


def usage_by_target(console: Console) -> dict[str, int]:
    """Bytes of backups and recovery sets each target held when it was last listed (the catalog's view; no target
    is contacted)."""
    return usage(console.catalog.records(), SetCatalog(console.catalog).records())


def usage(records: Iterable[BackupRecord], sets: Iterable[SetRecord] = ()) -> dict[str, int]:
    """Bytes per target of the backups among `records` and of the sets among `sets` (every file listed in a set's
    folder), from a listing the caller already has."""
    used: dict[str, int] = defaultdict(int)
    for record in records:
        used[record.target] += record.size
    for held in sets:
        used[held.target] += held.size
    return dict(used)
