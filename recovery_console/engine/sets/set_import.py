"""`backup upload --as-set NAME FILE…`: files a nightly job made (pg_dump -Fc archives, vaults' tars) encrypted into
one recovery set (docs/FORMAT.md 19): each file a member, stored as `import_store` stores one file (read once to
hash and check it, again to encrypt it; the two reads must agree), read back from the target and fully verified,
then the manifest written last. A failure or a cancel removes what was stored; a kill leaves a folder without a
manifest, never listed, swept a day later.

The set says honestly what it is: its manifest's `source` is `"imported files"` and `imported_from` lists each
file (path, size, SHA-256, modification time); a member's `started_at` and `finished_at` are both its file's
modification time (when the file was last written), not a dump this console watched.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recovery_console import __version__
from recovery_console.engine.console import Console
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.encrypted_store import store_encrypted
from recovery_console.engine.import_file import BACKUP, PG_DUMP, FoundFile, identify
from recovery_console.engine.import_store import PreparedFile, prepare, quiet, verify_stored
from recovery_console.engine.output_checks import check_quota_after, stored_size_estimate
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.manifest import (
    CONSISTENCY,
    ManifestMember,
    SetManifest,
    open_manifest,
    seal_manifest,
    stamp_ms,
)
from recovery_console.engine.sets.set_backup import check_still_there, set_sidecar_text
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord
from recovery_console.engine.sets.set_naming import MANIFEST_NAME, member_file, set_folder
from recovery_console.engine.sets.set_sweep import remove_folder, sweep_unfinished
from recovery_console.engine.state.named_store import usable_text
from recovery_console.engine.storage.base import Storage
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import IntegrityError, NotFoundError, RecoveryError, UsageError

log = logging.getLogger(__name__)

IMPORTED = "imported files"
IMPORTED_NOTE = ("The members were imported from files made elsewhere, not dumped by this console: each member's "
                 "started_at and finished_at are its file's modification time, and each file is its own snapshot, "
                 "not one consistent point in time with the others.")
_SUFFIXES = (".tar.gz", ".tar.zst", ".tgz", ".tar", ".dump", ".pgdump", ".backup")


@dataclass(frozen=True)
class _Input:
    """One file of the set, identified, with its member name and its modification time."""

    found: FoundFile
    name: str
    modified: str


def member_name(path: Path) -> str:
    """A member's name from its file's: `config.dump` → `config`, `vault.tar.gz` → `vault`."""
    name = path.name.encode("utf-8", errors="backslashreplace").decode("utf-8")
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


def import_set(console: Console, paths: list[Path], name: str, target: str | None, secret: str | None, *,
               profile: str | None = None, reporter: Reporter | None = None,
               iterations: int = fmt.DEFAULT_ITERATIONS) -> SetRecord:
    """Encrypt `paths` into one new recovery set named `name` on the target, every member verified there; the set
    is listed once whole. `profile` gives the secret and the target when they are not given, and is the profile
    the set's manifest names (so that its prune and `restore run SET --profile` take the set)."""
    reporter = reporter or Reporter()
    if not name.strip():
        raise UsageError("A set needs a name.", hint="Give the set a short name, such as 'nightly'.")
    usable_text(name, "The set's name")
    if profile is not None:
        target = target or console.profiles.store.get(profile).target
        secret = secret if secret is not None else console.profiles.instance_secret(profile)
    if not target or secret is None:
        raise UsageError("Upload needs a target and an instance secret (or a profile that gives both).")
    inputs = _inputs(paths)
    storage = console.storage(target)
    set_id, created = str(uuid.uuid4()), utc_now()
    folder = set_folder(set_id, created, __version__, "manual")
    with console.audited("backup.upload-set", storage.location(folder),
                         {"target": storage.name, "name": name, "profile": profile,
                          "files": [str(i.found.path.absolute()) for i in inputs]}) as detail:
        prepared = [prepare(i.found, reporter) for i in inputs]
        storage.check_room(sum(stored_size_estimate(p.payload_size, p.metadata.compression) for p in prepared))
        sets = SetCatalog(console.catalog)
        sweep_unfinished(console, storage, sets.sync(storage).unfinished)
        try:
            members = tuple(_member(storage, folder, index, item, ready, set_id, created, secret, reporter,
                                    iterations)
                            for index, (item, ready) in enumerate(zip(inputs, prepared, strict=True), start=1))
            check_still_there(storage, folder, members)
            manifest = SetManifest(set_id=set_id, created_at=created, finished_at=stamp_ms(), app_version=__version__,
                                   mode="manual", profile=profile or "", description=name, created_by=user_at_host(),
                                   members=members, consistency=CONSISTENCY, consistency_note=IMPORTED_NOTE,
                                   extra={"source": IMPORTED, "imported_from": _provenance(inputs, prepared)})
            _write_manifest(storage, folder, manifest, secret, iterations)
        except BaseException:
            _remove(storage, folder)
            raise
        sets.sync(storage)
        sets.remember_manifest(storage.name, folder, manifest)
        sets.remember_verify(storage.name, folder, "ok", "full")  # every member and the manifest were read back
        detail.update(set_id=set_id, members=len(members), size=sum(m.size for m in members))
        return sets.get(storage.name, folder)


def _inputs(paths: list[Path]) -> list[_Input]:
    """Every file identified (a backup file refused: it cannot become a member), each name used once."""
    if len({p.absolute() for p in paths}) != len(paths):
        raise UsageError("A file is given twice.", hint="Name each file of the set once.")
    inputs: list[_Input] = []
    names: dict[str, Path] = {}
    for path in paths:
        found = identify(path)
        if found.kind == BACKUP:
            raise UsageError(f"{path} is already a backup; a set is made of pg_dump -Fc archives and vaults' tars.",
                             hint="Upload it on its own, without making a set.")
        name = member_name(path)
        if name in names:
            raise UsageError(f"{names[name]} and {path} would both be the set's member '{name}'.",
                             hint="Rename one of the files; a member is named after its file.")
        names[name] = path
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        inputs.append(_Input(found, name, stamp_ms(modified)))
    return inputs


def _member(storage: Storage, folder: str, index: int, item: _Input, ready: PreparedFile, set_id: str, created: str,
            secret: str, reporter: Reporter, iterations: int) -> ManifestMember:
    """One file through the container writer into its member file (the second read must match the first), then
    read back from the target and fully verified; a member that fails is deleted again."""
    kind = "database" if item.found.kind == PG_DUMP else "folder"
    key = folder + member_file(index, kind)
    metadata = replace(ready.metadata, created_at=created,
                       extra={**ready.metadata.extra, "set_id": set_id, "set_member": item.name,
                              "set_member_kind": kind})
    with ready.payload(reporter) as (source, check):
        result = store_encrypted(storage, key, source, secret, metadata, reporter=quiet(reporter),
                                 source_size=ready.payload_size, iterations=iterations, before_commit=check)
    verify_stored(storage, key, secret, result, reporter)
    header = item.found.header
    return ManifestMember(
        index=index, kind=kind, name=item.name, key=member_file(index, kind), backup_id=metadata.backup_id,
        size=result.encrypted_size, sha256=result.encrypted_sha256,
        archive_length=result.sentinel.archive_length, archive_sha256=result.sentinel.archive_sha256.hex(),
        started_at=item.modified, finished_at=item.modified, database=header.dbname if header else None,
        server_version=header.server_version if header else None, folder=None)


def _provenance(inputs: list[_Input], prepared: list[PreparedFile]) -> list[dict[str, Any]]:
    return [{"member": item.name, "path": ready.metadata.extra["imported_from"]["path"], "size": item.found.size,
             "sha256": ready.file_sha256, "modified_at": item.modified}
            for item, ready in zip(inputs, prepared, strict=True)]


def _write_manifest(storage: Storage, folder: str, manifest: SetManifest, secret: str, iterations: int) -> None:
    """The set's sidecar, then the manifest last; read back and opened, so the set is listed only once proven."""
    sealed = seal_manifest(manifest, secret, iterations=iterations)
    check_quota_after(storage, len(sealed.data))
    storage.put_bytes(folder + MANIFEST_NAME + SIDECAR_SUFFIX, set_sidecar_text(sealed.sha256, manifest.members))
    storage.put_bytes(folder + MANIFEST_NAME, sealed.data)
    with storage.open_read(folder + MANIFEST_NAME) as stream:
        opened = open_manifest(stream, secret)
    if opened.sha256 != sealed.sha256 or opened.manifest != manifest:
        raise IntegrityError("The set's manifest read back from the target differs from what was written; the set "
                             "was removed again.", hint="Check the target's storage, then upload the files again.")


def _remove(storage: Storage, folder: str) -> None:
    """A failed set's files removed, its manifest (if written) first, then its folder; best effort: what stays is an
    unfinished set, never listed, swept later."""
    with suppress(RecoveryError):
        with suppress(NotFoundError):
            storage.delete(folder + MANIFEST_NAME)
        if kept := remove_folder(storage, folder).folder_kept:
            log.warning("%s", kept)
