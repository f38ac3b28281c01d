"""Restore history: every restore of a profile, what it kept and what became of it, one JSON file per profile.

`restore-history/<profile>.json` in the data folder is replaced whole at each change (state/atomic.py),
under an OS file lock held only for the read-modify-write, so two consoles recording at once never lose
an entry. A kept database is recorded with the OID it had when it was kept: it is the console's to roll
back to or drop only while a database of that name still has that OID. The file records; the server
says what exists now (engine/restore_kept.py asks it).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from recovery_console.engine.state.atomic import write_json
from recovery_console.engine.state.file_lock import held
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.engine.who import utc_now
from recovery_console.errors import CatalogError, NotFoundError, from_os_error

FOLDER = "restore-history"
VERSION = 1
SUCCEEDED, FAILED, CANCELLED, ROLLED_BACK, DROPPED = (
    "succeeded", "failed", "cancelled", "rolled back", "previous dropped")
IN_PLACE, NEW_DATABASE = "in place", "new database"


@dataclass
class HistoryEntry:
    """One restore: when, of which backup into which database, how it ended, and the database it kept.

    `previous`/`previous_oid`: the original database, kept under a `__pre_restore_` name; `undone`/`undone_oid`:
    the restored database a rollback kept under an `__undone_` name (`undone_dropped` once dropped);
    `identity`: the lock identity of the database (host:port/name) so an entry is never applied to a profile
    that now points elsewhere."""

    id: str
    time: str
    profile: str
    database: str
    identity: str
    backup_id: str | None
    backup_key: str
    mode: str
    result: str
    error: str = ""
    previous: str | None = None
    previous_oid: int | None = None
    undone: str | None = None
    undone_oid: int | None = None
    undone_dropped: bool = False
    changed: str = ""  # when the result last changed (rolled back, dropped)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry:
        known = {f.name for f in fields(cls)}
        entry = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(entry.id, str) or not isinstance(entry.result, str) or not isinstance(entry.time, str):
            raise TypeError("an entry's id, time and result must be text")
        if entry.previous_oid is not None and not isinstance(entry.previous_oid, int):
            raise TypeError("previous_oid must be a number")
        return entry


def history_file(paths: AppPaths, profile: str) -> Path:
    return paths.data_dir / FOLDER / f"{profile}.json"


def new_id() -> str:
    return secrets.token_hex(4)


def now() -> str:
    return utc_now()


def entries(paths: AppPaths, profile: str) -> list[HistoryEntry]:
    """The profile's restores, newest first; CatalogError (naming the file) if the file is damaged."""
    return list(reversed(_read(history_file(paths, profile))))


def find(paths: AppPaths, profile: str, ref: str) -> HistoryEntry:
    """The entry with id `ref`, or the newest whose kept (or undone) database is named `ref`."""
    for entry in entries(paths, profile):
        if ref in (entry.id, entry.previous, entry.undone):
            return entry
    raise NotFoundError(f"No restore of profile {profile} in its history is '{ref}'.",
                        hint="Give an entry id or a kept database name as the restore history lists them.")


def add(paths: AppPaths, entry: HistoryEntry) -> None:
    """Append `entry` to its profile's history."""
    with _locked(history_file(paths, entry.profile), paths) as (current, save):
        current.append(entry)
        save(current)


def update(paths: AppPaths, profile: str, match: Callable[[HistoryEntry], bool], **changes: Any) -> int:
    """Apply `changes` to every entry of `profile` that `match` selects; return how many were changed."""
    changed = 0
    with _locked(history_file(paths, profile), paths) as (current, save):
        for entry in current:
            if match(entry):
                for key, value in changes.items():
                    setattr(entry, key, value)
                entry.changed = now()
                changed += 1
        if changed:
            save(current)
    return changed


def _read(path: Path) -> list[HistoryEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise from_os_error("reading the restore history", str(path), exc) from exc
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise ValueError("no list of entries")
        return [HistoryEntry.from_json(item) for item in data["entries"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        why = "it is not valid JSON" if isinstance(exc, json.JSONDecodeError) else (
            "it does not hold the list of restores this console writes")
        raise CatalogError(f"The restore history {path} is damaged: {why}. Nothing was changed.",
                           hint="Move the file aside to start a new history; the databases on the server are "
                                "untouched, and restores are still in the audit log.") from None


@contextmanager
def _locked(path: Path, paths: AppPaths) -> Iterator[tuple[list[HistoryEntry], Callable[[list[HistoryEntry]], None]]]:
    """Hold the history's lock file while reading it and (through the yielded save) replacing it; a write cut
    short by a kill is claimed, so the next start removes its temp file."""
    def save(items: list[HistoryEntry]) -> None:
        write_json(path, {"version": VERSION, "entries": [e.to_json() for e in items]},
                   claims=RuntimeDir(paths.runtime_dir))

    with held(path.with_suffix(".lock")):  # held for one read and one write: never long
        yield _read(path), save
