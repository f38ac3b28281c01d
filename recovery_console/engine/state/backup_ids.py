"""How a backup named by the user is found in the catalog: by the id `backup list` shows, by a prefix
of its id, or as TARGET:KEY (the one form that tells copies of one backup apart)."""

from __future__ import annotations

from recovery_console.engine.container.naming import BACKUP_PREFIX
from recovery_console.errors import NotFoundError, UsageError
from recovery_console.models.backup import BackupRecord

MIN_ID = 4
SHORT_ID = 8


def matching_records(records: list[BackupRecord], ref: str) -> list[BackupRecord]:
    """The records `ref` names; at least one, or NotFoundError.

    The id a listing shows (short_id: from a conforming name, or derived from a foreign name's key)
    always names its backup, even once its contents are known to hold another backup id; otherwise
    a prefix of the short or the full id matches.
    """
    needle = ref.strip().lower().replace("-", "")
    if len(needle) < MIN_ID:
        raise UsageError(f"A backup id needs at least {MIN_ID} characters.", hint="The backup list shows the ids.",
                         cli_hint="`backup list` shows the ids.")
    shown = [r for r in records if r.short_id == needle]
    if shown:
        return shown
    matches = [r for r in records if r.short_id.startswith(needle) or _full_id_matches(r, needle)]
    if not matches:
        raise NotFoundError(f"No backup with id '{ref}' in the catalog.",
                            hint="Refresh the backup list from the targets, or open the backup file itself.",
                            cli_hint="Run `backup list` to refresh it from the targets, or give TARGET:KEY or a file "
                                     "path.")
    return matches


def _full_id_matches(record: BackupRecord, needle: str) -> bool:
    if record.metadata is not None:
        return record.metadata.backup_id.replace("-", "").startswith(needle)
    return len(needle) > SHORT_ID and record.short_id == needle[:SHORT_ID]


def split_target_key(ref: str, targets: set[str]) -> tuple[str, list[str]] | None:
    """(target, keys to try) when `ref` is TARGET:KEY with a configured target; the key may leave out
    the `backups/` folder. None when `ref` is not of that form."""
    name, sep, key = ref.partition(":")
    if not sep or name not in targets or not key:
        return None
    return name, [key] if key.startswith(BACKUP_PREFIX) else [key, BACKUP_PREFIX + key]


def ambiguous(ref: str, records: list[BackupRecord]) -> UsageError:
    where = "; ".join(f"{r.target}:{r.key}" for r in records)
    return UsageError(f"The id '{ref}' matches several backups: {where}.",
                      hint="Name one as TARGET:KEY, exactly as listed here, or give more of the id.",
                      cli_hint="Name one as TARGET:KEY, exactly as listed here (or give more of the id, or --target).")
