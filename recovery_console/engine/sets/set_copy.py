"""A whole recovery set put on another target: `backup copy` of a stored set (no key: its files as they are), and
`backup upload` of a set's folder on this machine (as `backup download` writes it: every member proven with the
key against the manifest first). Both go through set_transfer.py, so the set is listed on the target only once
every file is there and read back, and one audit entry says what was done."""

from __future__ import annotations

from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.progress import CancelToken, Phase, Reporter
from recovery_console.engine.replicate import present
from recovery_console.engine.sets.manifest import SetManifest, open_manifest
from recovery_console.engine.sets.member_share import MemberShare
from recovery_console.engine.sets.set_catalog import DAMAGED, SetCatalog, SetRecord
from recovery_console.engine.sets.set_listing import check_member
from recovery_console.engine.sets.set_naming import MANIFEST_NAME, set_folder
from recovery_console.engine.sets.set_transfer import LocalSet, SentSet, StoredSet, plan_set, send_set
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import IntegrityError, NotFoundError, UsageError


def copy_set(console: Console, record: SetRecord, target_name: str, reporter: Reporter | None = None) -> SentSet:
    """Copy the set to `target_name` as it is and read every file back there; a set already there is only checked."""
    reporter = reporter or Reporter()
    dest = console.storage(target_name)
    if dest.name == record.target:
        raise UsageError(f"Recovery set {record.short_id} is already on target '{dest.name}'; choose another target "
                         "to copy it to.")
    source = console.storage(record.target)
    with console.audited("backup.copy-set", source.location(record.folder),
                         {"to": dest.name, "set_id": record.set_id}) as detail:
        if record.state == DAMAGED:
            raise IntegrityError(f"Recovery set {record.short_id} on '{record.target}' is damaged "
                                 f"({'; '.join(record.problems)}); it was not copied.",
                                 hint="Copy another copy of the set, or a set that is whole.")
        files = StoredSet(source, record.folder)
        sent = send_set(plan_set(files, record.manifest), files, dest, record.folder, reporter)
        _catalog(console, dest, record.folder, record.manifest)
        detail.update(files=sent.files, size=sent.size, manifest_sha256=sent.manifest_sha256, already=sent.already)
        return sent


def upload_set(console: Console, folder: Path, target: str, secret: str,
               reporter: Reporter | None = None) -> tuple[SentSet, SetManifest]:
    """Put a set's folder from this machine onto `target` as the set it is: the manifest opened and every member
    proven with the key first, then sent as `copy_set` sends one. Its folder on the target follows from the
    manifest, so the local folder may have any name."""
    reporter = reporter or Reporter()
    storage = console.storage(target)
    with console.audited("backup.upload-set", str(folder.absolute()), {"target": storage.name}) as detail:
        files = LocalSet(folder)
        try:
            with files.open(MANIFEST_NAME) as stream:
                opened = open_manifest(stream, secret)
        except NotFoundError:
            raise UsageError(f"{folder} holds no {MANIFEST_NAME}: it is not a recovery set's folder.",
                             hint="Name the folder a set was downloaded into.") from None
        manifest = opened.manifest
        key = set_folder(manifest.set_id, manifest.created_at, manifest.app_version, manifest.mode)
        detail.update(set_id=manifest.set_id, folder=key)
        if present(storage, key + MANIFEST_NAME):
            raise UsageError(f"Target '{storage.name}' already holds recovery set {manifest.set_id}.",
                             hint="It is already uploaded; the backup list shows it.",
                             cli_hint="It is already uploaded; `backup list` shows it.")
        plan = plan_set(files, manifest, opened.sha256)
        _prove_members(files, manifest, secret, reporter)
        sent = send_set(plan, files, storage, key, reporter)
        _catalog(console, storage, key, manifest)
        detail.update(files=sent.files, size=sent.size)
        return sent, manifest


def _prove_members(files: LocalSet, manifest: SetManifest, secret: str, reporter: Reporter) -> None:
    """Every member decrypted whole with the key: exactly the file, archive and member the manifest pins."""
    reporter.start(Phase.VERIFY, sum(m.size for m in manifest.members))
    abort = CancelToken()
    for member in manifest.members:
        try:
            with files.open(member.key) as stream:
                report = read_stream(stream, secret, require_archive=member.kind == "database",
                                     reporter=MemberShare(reporter, abort), total=member.size)
            check_member(member, report.ciphertext_sha256, report.archive_length, report.archive_sha256,
                         report.metadata, manifest.set_id)
        except IntegrityError as exc:
            raise IntegrityError(f"Member '{member.name}' ({files.location(member.key)}): {exc.message} Nothing was "
                                 "uploaded.", hint="This copy of the set is damaged: download the set again.") from None


def _catalog(console: Console, dest: Storage, folder: str, manifest: SetManifest | None) -> None:
    sets = SetCatalog(console.catalog)
    sets.sync(dest)
    if manifest is not None:
        sets.remember_manifest(dest.name, folder, manifest)
