"""Removing a set's files: all of a folder (a failed, deleted or swept set), and the sweep of unfinished sets
(folders without a manifest) once a day old; kept apart from set_backup so that a prune can use them."""

from __future__ import annotations

import time
from contextlib import suppress

from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import Unfinished
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import NotFoundError

SWEEP_AFTER = 24 * 3600.0
"""Seconds since an unfinished set's newest file after which a later set backup (or a prune) removes it."""


def remove_folder(storage: Storage, folder: str) -> int:
    """Delete every file in a set's folder (best effort: a file already gone is fine); how many went."""
    removed = 0
    for info in list(storage.list(folder)):
        with suppress(NotFoundError):
            storage.delete(info.key)
            removed += 1
    return removed


def sweep_unfinished(console: Console, storage: Storage, unfinished: tuple[Unfinished, ...],
                     older_than: float = SWEEP_AFTER) -> int:
    """Remove the files of unfinished sets whose newest file is older than `older_than` seconds; each audited."""
    swept = 0
    for found in unfinished:
        if time.time() - found.newest < older_than:
            continue
        with console.audited("backup.sweep-unfinished-set", storage.location(found.folder),
                             {"target": storage.name, "files": len(found.keys)}):
            swept += remove_folder(storage, found.folder)
    return swept
