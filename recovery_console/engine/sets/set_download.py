"""`backup download` of a whole recovery set: every member file, its sidecar, the manifest and the set's sidecar
into a new folder on this machine, each file checked against what the set pins (set_transfer.py's plan). The
folder is written under a hidden temporary name, claimed so a kill leaves nothing after the next start, and
appears under its name only once every file is in it and checked."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.output_checks import check_output, copy_checked, is_folder
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.sets.set_transfer import SET_SIDECAR, StoredSet, plan_set
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.errors import IntegrityError, UsageError, from_os_error


@dataclass(frozen=True)
class SetDownload:
    """A set now in a folder on this machine."""

    folder: Path
    files: int
    size: int
    checked_against: str
    """"manifest" when the sizes and hashes the decrypted manifest pins were checked too, else "sidecar"."""


def download_set(console: Console, record: SetRecord, out: Path, reporter: Reporter | None = None) -> SetDownload:
    """Download the set into `out` (a new folder), or into a new folder named as the set's inside `out` when that
    is an existing folder; nothing is left behind unless every file arrived whole."""
    reporter = reporter or Reporter()
    final = out / record.folder.rstrip("/").rsplit("/", 1)[-1] if is_folder(out) else out
    source = console.storage(record.target)
    with console.audited("backup.download-set", source.location(record.folder),
                         {"output": str(final), "set_id": record.set_id}) as detail:
        if os.path.lexists(final):
            raise UsageError(f"{final} already exists; a set is downloaded into a new folder. Nothing was written.",
                             hint="Choose a new folder, or an existing folder to put the set's folder in.")
        check_output(final)
        files = StoredSet(source, record.folder)
        plan = plan_set(files, record.manifest)
        reporter.start(Phase.DOWNLOAD, plan.size)
        with console.runtime.claim(final.parent / f".{final.name}.{secrets.token_hex(4)}.part") as temp:
            try:
                temp.mkdir()
                for item in plan.files:
                    got = copy_checked(partial(files.open, item.name), files.location(item.name),
                                       temp / item.name, False, (item.sha256, "sidecar"), reporter)
                    if got.size != item.size:
                        raise IntegrityError(f"{files.location(item.name)} arrived with {got.size:,} bytes, not "
                                             f"{item.size:,}; nothing was kept.", hint="Try again.")
                    side = SET_SIDECAR if item.name == plan.manifest.name else item.name + SIDECAR_SUFFIX
                    with atomic_output(temp / side) as sink:
                        sink.write(item.sidecar)
                _sync_folder(temp)
                os.rename(temp, final)
                _sync_folder(final.parent)
            except FileNotFoundError:
                raise UsageError(f"The folder {final.parent} does not exist.") from None
            except OSError as exc:  # a full disk while writing, flushing or syncing a file
                raise from_os_error("writing", str(final), exc) from exc
        reporter.finish()
        detail.update(files=2 * len(plan.files), size=plan.size, checked_against=plan.checked_against)
        return SetDownload(final, 2 * len(plan.files), plan.size, plan.checked_against)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
