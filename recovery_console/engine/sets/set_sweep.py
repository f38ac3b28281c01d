"""Removing a set's files: its own files in its folder and then the folder (a failed, deleted or swept set), and the
sweep of unfinished sets (folders without a manifest) once a day old; kept apart from set_backup so that a prune can
use them."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass

from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import Unfinished
from recovery_console.engine.sets.set_naming import is_set_file, is_set_folder
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import NotFoundError, RecoveryError, UsageError
from recovery_console.formatting import counted, some_of

SWEEP_AFTER = 24 * 3600.0
"""Seconds since an unfinished set's newest file after which a later set backup (or a prune) removes it."""


FOREIGN_SHOWN = 3
"""Names of files that are not the set's shown in the reason its folder stayed; the rest are counted."""


@dataclass(frozen=True)
class FolderRemoval:
    """What removing a set's files did: how many went, and why its folder stayed when it did."""

    files: int
    folder_kept: str | None = None


def remove_folder(storage: Storage, folder: str) -> FolderRemoval:
    """Delete the set's own files in its folder (the names FORMAT.md 19.2 gives; one already gone is fine), then the
    folder once empty. Anything else in it stays, and so does the folder: the result says why (a warning, not a
    failure). Only ever a set's folder, `sets/rc_set_…/`."""
    if not is_set_folder(folder):
        raise UsageError(f"{storage.location(folder)} is not a recovery set's folder; nothing was removed.")
    removed = 0
    foreign: list[str] = []
    for info in list(storage.list(folder)):
        name = info.key.removeprefix(folder)
        if not is_set_file(name):
            foreign.append(name)
            continue
        with suppress(NotFoundError):
            storage.delete(info.key)
            removed += 1
    where = storage.location(folder)
    if foreign:
        return FolderRemoval(removed, f"The set's folder {where} stays: it holds {counted(len(foreign), 'file')} "
                                      f"the set did not write ({some_of(foreign, FOREIGN_SHOWN)}), left as "
                                      f"{'it is' if len(foreign) == 1 else 'they are'}.")
    try:
        storage.remove_empty_folder(folder)
    except RecoveryError as exc:
        return FolderRemoval(removed, f"The set's files were removed, but its folder stays: {exc.message}")
    return FolderRemoval(removed)


def sweep_unfinished(console: Console, storage: Storage, unfinished: tuple[Unfinished, ...],
                     older_than: float = SWEEP_AFTER) -> int:
    """Remove the files of unfinished sets whose newest file is older than `older_than` seconds; each audited.
    A folder on legal hold is never swept, whatever it lacks."""
    swept = 0
    for found in unfinished:
        if time.time() - found.newest < older_than or console.pins.get(storage.name, found.folder) is not None:
            continue
        with console.audited("backup.sweep-unfinished-set", storage.location(found.folder),
                             {"target": storage.name, "files": len(found.keys)}) as detail:
            removal = remove_folder(storage, found.folder)
            swept += removal.files
            if removal.folder_kept:
                detail.update(folder_kept=removal.folder_kept)
    return swept
