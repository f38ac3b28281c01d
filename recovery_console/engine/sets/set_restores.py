"""Which restore belonged to which recovery set: each `restore run SET` remembered with what every member kept (a
database's previous copy by name and history entry, a folder's previous copy by path and inode), so the whole set
can be rolled back in one step (engine/sets/set_rollback.py).

`set-restores/<profile>.json` in the data folder is replaced whole at each change (state/atomic.py, its temp file
claimed in the runtime folder), under an OS file lock held for the read-modify-write only.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recovery_console.engine.console import Console
from recovery_console.engine.state import restore_history
from recovery_console.engine.state.atomic import write_json
from recovery_console.engine.state.file_lock import held
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.errors import CatalogError, NotFoundError, RecoveryError, from_os_error

log = logging.getLogger(__name__)

FOLDER = "set-restores"
VERSION = 1
RESTORED, ROLLING_BACK, ROLLED_BACK = "restored", "rolling back", "rolled back"
DATABASE, FOLDER_KIND = "database", "folder"


@dataclass
class KeptMember:
    """One restored member and what it kept: `kept` is the previous database's name (restored through `profile`,
    recorded as restore-history `entry`) or the previous folder's path; `inodes` are a folder's (device, inode) of
    the kept and of the restored folder, so a rollback resumed after a kill knows which is which. `undone` is where a
    rollback set the restored folder aside (chosen before it moves anything)."""

    name: str
    kind: str
    kept: str
    profile: str | None = None
    database: str | None = None
    entry: str | None = None
    folder: str | None = None
    kept_inode: list[int] | None = None
    restored_inode: list[int] | None = None
    state: str = RESTORED
    undone: str | None = None


@dataclass
class SetRestore:
    """One restore of set `set_id` through `profile`, and each member it replaced."""

    id: str
    time: str
    set_id: str
    profile: str
    members: list[KeptMember] = field(default_factory=list)
    changed: str = ""

    @property
    def state(self) -> str:
        states = {m.state for m in self.members}
        if states == {ROLLED_BACK}:
            return ROLLED_BACK
        return RESTORED if states <= {RESTORED} else "partly rolled back"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SetRestore:
        members = [KeptMember(**{k: v for k, v in m.items() if k in KeptMember.__dataclass_fields__})
                   for m in data["members"]]
        return cls(str(data["id"]), str(data["time"]), str(data["set_id"]), str(data["profile"]), members,
                   str(data.get("changed", "")))


def restores_file(paths: AppPaths, profile: str) -> Path:
    return paths.data_dir / FOLDER / f"{profile}.json"


def record_set_restore(console: Console, set_id: str, profile: str, members: Sequence[Mapping[str, Any]],
                       extends: SetRestore | None = None) -> SetRestore | None:
    """Remember that this restore of `set_id` replaced `members` (as `restore run SET` reports them: a database's
    `name`, `profile`, `database`, `previous`; a folder's `name`, `folder`, `kept_previous`); audited. `extends`:
    the entry this restore recorded for its earlier members, replaced (a set restore records after each member, so
    a kill leaves what was replaced so far rolled back as one). Recording never undoes the restore: if it cannot
    be written, a warning is logged (each member still rolls back alone)."""
    try:
        kept = [k for k in (_kept(console.paths, m) for m in members) if k is not None]
        if not kept:
            return extends  # restored into new places only: nothing (more) to roll back
        entry = SetRestore(extends.id if extends else restore_history.new_id(),
                           extends.time if extends else restore_history.now(), set_id, profile, kept)
        with console.audited("set.restore-recorded", set_id, {"profile": profile, "restore": entry.id,
                                                                "members": {k.name: k.kept for k in kept}}), \
                _locked(console.paths, profile) as (current, save):
            save([*(e for e in current if e.id != entry.id), entry])
        return entry
    except RecoveryError as exc:
        log.warning("The restore of set %s could not be recorded for a rollback of the whole set: %s", set_id,
                    exc.message)
        return None


def _kept(paths: AppPaths, member: Mapping[str, Any]) -> KeptMember | None:
    """What one reported member kept; None when it replaced nothing (a folder restored into a new folder)."""
    if member.get("kept_previous"):
        folder, kept = Path(member["folder"]), Path(member["kept_previous"])
        return KeptMember(str(member["name"]), FOLDER_KIND, str(kept), folder=str(folder),
                          kept_inode=inode(kept), restored_inode=inode(folder))
    if member.get("previous") and member.get("profile"):
        previous = str(member["previous"])
        entry = restore_history.find(paths, str(member["profile"]), previous)
        return KeptMember(str(member["name"]), DATABASE, previous, profile=str(member["profile"]),
                          database=str(member.get("database") or entry.database), entry=entry.id)
    return None


def inode(path: Path) -> list[int] | None:
    """(device, inode) of `path` itself (a link is not followed); None if nothing is there."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise from_os_error("looking at", str(path), exc) from exc
    return [found.st_dev, found.st_ino]


def restores(paths: AppPaths, profile: str) -> list[SetRestore]:
    """The profile's set restores, newest first."""
    return list(reversed(_read(restores_file(paths, profile))))


def find_restore(paths: AppPaths, profile: str, ref: str) -> SetRestore:
    """The newest restore of the set `ref` names (its id, or 4+ of its first digits), or the restore with id `ref`."""
    wanted = ref.strip().lower().replace("-", "")
    for entry in restores(paths, profile):
        if ref == entry.id or (len(wanted) >= 4 and entry.set_id.replace("-", "").startswith(wanted)):
            return entry
    raise NotFoundError(f"No set restore of profile {profile} is recorded for '{ref}'.",
                        hint="Give the id of a set restored through this profile, as the restore reported it.")


def update_member(paths: AppPaths, profile: str, restore_id: str, name: str, **changes: Any) -> None:
    """Change member `name` of restore `restore_id`, durably, before the caller moves on."""
    with _locked(paths, profile) as (current, save):
        for entry in current:
            if entry.id == restore_id:
                for member in entry.members:
                    if member.name == name:
                        for key, value in changes.items():
                            setattr(member, key, value)
                entry.changed = restore_history.now()
        save(current)


def _read(path: Path) -> list[SetRestore]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise from_os_error("reading the set restores", str(path), exc) from exc
    try:
        data = json.loads(text)
    except ValueError:
        raise _damaged(path, "it is not valid JSON") from None
    try:
        return [SetRestore.from_json(item) for item in data["restores"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise _damaged(path, "it does not hold the list of set restores this console writes") from None


def _damaged(path: Path, why: str) -> CatalogError:
    return CatalogError(f"The set restores file {path} is damaged: {why}. Nothing was changed.",
                        hint=f"Move {path.name} aside to go on; the set restores it held then roll back member by "
                             "member (every database's restore history and every kept folder are untouched).")


@contextmanager
def _locked(paths: AppPaths, profile: str) -> Iterator[tuple[list[SetRestore], Callable[[list[SetRestore]], None]]]:
    path = restores_file(paths, profile)

    def save(items: list[SetRestore]) -> None:
        write_json(path, {"version": VERSION, "restores": [e.to_json() for e in items]},
                   claims=RuntimeDir(paths.runtime_dir))

    with held(path.with_suffix(".lock"), "set restores lock"):  # held for one read and one write: never long
        yield _read(path), save
