"""Recovery sets as the console lists, finds and verifies them: a set is one entry with its members, and it is
restorable only when complete; `verify_set` proves every member against the manifest with the key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from recovery_console.engine.console import Console
from recovery_console.engine.container.streams import SIDECAR_SUFFIX, parse_sidecar
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.io_protocols import ReadIntoStream
from recovery_console.engine.progress import CancelToken, Phase, Reporter
from recovery_console.engine.sets.manifest import ManifestMember, SetManifest, open_manifest
from recovery_console.engine.sets.member_share import MemberShare
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord, SetSync
from recovery_console.engine.sets.set_members import belongs
from recovery_console.engine.sets.set_naming import MANIFEST_NAME
from recovery_console.engine.sets.set_pins import refuse_if_pinned
from recovery_console.engine.sets.set_sweep import FolderRemoval, remove_folder
from recovery_console.engine.state.backup_ids import matching_records
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import (
    Cancelled,
    CatalogError,
    IntegrityError,
    NotFoundError,
    RecoveryError,
    StorageError,
    UsageError,
)
from recovery_console.models.backup import BackupMetadata


def list_sets(console: Console, targets: list[str] | None = None,
              sync: bool = True) -> tuple[list[SetRecord], list[SetSync]]:
    """Sets on the named targets (default: every configured one), synced from storage first; a target that
    cannot be listed is left out, as `Console.list_backups` does (it reports the reason)."""
    sets = SetCatalog(console.catalog)
    names = targets if targets is not None else list(console.targets.load())
    configs = [console.targets.resolve(name) for name in names]
    synced: list[SetSync] = []
    reachable: list[str] = []
    for config in configs:
        if not sync:
            reachable.append(config.name)
            continue
        try:
            synced.append(sets.sync(console.storage(config.name)))
            reachable.append(config.name)
        except (CatalogError, Cancelled):
            raise
        except RecoveryError:
            continue  # list_backups, run beside this, reports the target as not listed
    return sets.records(reachable), synced


def find_set(console: Console, ref: str, target: str | None = None) -> SetRecord | None:
    """The set `ref` names (its short id, its full id, a prefix of 4+ of its id's digits, or its folder) among the
    sets the catalog knows; None if it names none. Two sets matching is an error that lists both."""
    wanted = ref.strip().lower().replace("-", "")
    if len(wanted) < 4 and not ref.startswith("sets/"):
        return None
    target_name = console.targets.resolve(target).name if target else None
    found = []
    for record in SetCatalog(console.catalog).records([target_name] if target_name else None):
        folder = record.folder.rstrip("/")
        if ref.rstrip("/") in (folder, f"{record.target}:{folder}") or \
                record.set_id.replace("-", "").startswith(wanted) or record.short_id.startswith(wanted):
            found.append(record)
    if len(found) > 1 and len({r.folder for r in found}) == 1:
        raise UsageError(f"Recovery set {found[0].short_id} is on {len(found)} targets: "
                         f"{', '.join(r.target for r in found)}.", hint="Name the target of the copy to act on.",
                         cli_hint="Name the target of the copy to act on with --target.")
    if len({(r.target, r.folder) for r in found}) > 1:
        raise UsageError(f"'{ref}' names {len(found)} sets: " + ", ".join(f"{r.short_id} on {r.target}"
                                                                          for r in found) + ".",
                         hint="Give more of the set's id, or name its target.")
    if not found:
        return None
    try:  # a single backup the same id names: say so rather than pick one
        backups = matching_records(console.catalog.records([target_name] if target_name else None), ref)
    except RecoveryError:
        backups = []
    if backups:
        raise UsageError(f"'{ref}' names both set {found[0].short_id} and backup {backups[0].short_id}.",
                         hint="Give more of the id you mean.")
    return found[0]


@dataclass(frozen=True)
class MemberVerdict:
    """One member as a verify proved it."""

    member: ManifestMember
    encrypted_sha256: str
    archive_sha256: str


@dataclass(frozen=True)
class SetVerifyResult:
    record: SetRecord
    manifest: SetManifest
    members: tuple[MemberVerdict, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"set": self.record.as_dict(), "verdict": "passed",
                "members": [{"name": v.member.name, "kind": v.member.kind, "key": v.member.key,
                             "size": v.member.size, "sha256": v.encrypted_sha256,
                             "archive_length": v.member.archive_length, "archive_sha256": v.archive_sha256,
                             "started_at": v.member.started_at, "finished_at": v.member.finished_at}
                            for v in self.members]}


def verify_set(console: Console, record: SetRecord, secret: str, reporter: Reporter | None = None) -> SetVerifyResult:
    """Read the manifest and every member whole with the key; each must be exactly what the manifest pins."""
    reporter = reporter or Reporter()
    storage = console.storage(record.target)
    sets = SetCatalog(console.catalog)
    with console.audited("backup.verify-set", storage.location(record.folder), {"mode": "full"}) as detail:
        try:
            manifest, verdicts = _verify(storage, record, secret, reporter, sets)
        except IntegrityError as exc:
            sets.remember_verify(record.target, record.folder, "failed", exc.message)
            raise
        except (StorageError, NotFoundError):
            raise
        sets.remember_verify(record.target, record.folder, "ok", "full")
        detail.update(set_id=manifest.set_id, members=len(verdicts))
        return SetVerifyResult(sets.get(record.target, record.folder), manifest, verdicts)


def _verify(storage: Storage, record: SetRecord, secret: str, reporter: Reporter,
            sets: SetCatalog) -> tuple[SetManifest, tuple[MemberVerdict, ...]]:
    try:
        with storage.open_read(record.manifest_key) as stream:
            opened = open_manifest(stream, secret)
    except IntegrityError as exc:
        exc.message = f"The set's manifest ({MANIFEST_NAME}): {exc.message}"
        raise
    except NotFoundError:
        raise IntegrityError("The set's manifest is gone: the set is unfinished or was deleted.") from None
    manifest = opened.manifest
    sidecar = _sidecar(storage, record.manifest_key)
    if sidecar is not None and sidecar != opened.sha256:
        raise IntegrityError("The manifest decrypts, but its SHA-256 does not match the set's .sha256 sidecar.",
                             hint="The sidecar was damaged or replaced; the manifest itself is authentic.")
    sets.remember_manifest(record.target, record.folder, manifest)

    @contextmanager
    def member_stream(member: ManifestMember) -> Iterator[ReadIntoStream]:
        key = record.folder + member.key
        try:
            size = storage.stat(key).size
        except NotFoundError:
            raise IntegrityError(f"Member '{member.name}' ({member.key}) is missing from the set.",
                                 hint="The set is damaged: restore from another set or another copy.") from None
        if size != member.size:
            raise IntegrityError(f"Member '{member.name}' ({member.key}) is {size:,} bytes; the manifest says "
                                 f"{member.size:,}.", hint="The set is damaged: restore from another set or copy.")
        with storage.open_read(key) as stream:
            yield stream

    return manifest, verify_members(manifest, secret, reporter, member_stream,
                                    lambda member: _sidecar(storage, record.folder + member.key))


def verify_members(manifest: SetManifest, secret: str, reporter: Reporter,
                   opened: Callable[[ManifestMember], AbstractContextManager[ReadIntoStream]],
                   sidecar: Callable[[ManifestMember], str | None]) -> tuple[MemberVerdict, ...]:
    """Every member read whole with the key from `opened(member)`, each exactly what the manifest pins, and its
    `sidecar` SHA-256 (None: none to compare) agreeing: a set on a target and a set's folder alike."""
    reporter.start(Phase.VERIFY, sum(m.size for m in manifest.members))
    abort = CancelToken()
    verdicts = []
    for member in manifest.members:
        with opened(member) as stream, _naming_member(member):
            report = read_stream(stream, secret, require_archive=member.kind == "database",
                                 reporter=MemberShare(reporter, abort), total=member.size)
        check_member(member, report.ciphertext_sha256, report.archive_length, report.archive_sha256,
                     report.metadata, manifest.set_id)
        if (side := sidecar(member)) is not None and side != report.ciphertext_sha256:
            raise IntegrityError(f"Member '{member.name}' verifies, but its .sha256 sidecar does not match it.",
                                 hint="Re-create the sidecar from the verified file.")
        assert report.ciphertext_sha256 is not None and report.archive_sha256 is not None
        verdicts.append(MemberVerdict(member, report.ciphertext_sha256, report.archive_sha256))
    reporter.finish()
    return tuple(verdicts)


@contextmanager
def _naming_member(member: ManifestMember) -> Iterator[None]:
    """A member file's integrity error names the member and its file ("Chunk 3 failed authentication" alone does
    not say which of a set's files it was)."""
    try:
        yield
    except IntegrityError as exc:
        exc.message = f"Member '{member.name}' ({member.key}): {exc.message}"
        raise


def check_member(member: ManifestMember, sha256: str | None, archive_length: int | None,
                 archive_sha256: str | None, metadata: BackupMetadata, set_id: str) -> None:
    """A member file as read with the key must be exactly what the manifest pins, or IntegrityError."""
    what = f"Member '{member.name}' ({member.key})"
    if sha256 != member.sha256:
        raise IntegrityError(f"{what} is not the file the manifest pins (its SHA-256 differs).",
                             hint="It was replaced; the set is damaged.")
    if (archive_length, archive_sha256) != (member.archive_length, member.archive_sha256):
        raise IntegrityError(f"{what} holds another archive than the manifest names.")
    if not belongs(metadata, member, set_id):
        raise IntegrityError(f"{what} belongs to another set or member than the manifest says.",
                             hint="A file was moved between sets; the set is damaged.")


def _sidecar(storage: Storage, key: str) -> str | None:
    try:
        return parse_sidecar(storage.get_bytes(key + SIDECAR_SUFFIX))
    except NotFoundError:
        return None


def delete_set(console: Console, record: SetRecord, why: dict[str, Any] | None = None) -> FolderRemoval:
    """Remove a set from its target: the manifest first (from then on the set is no longer listed or restorable,
    even if the rest fails), then the set's other files and its folder once empty (a file it did not write stays,
    and the folder with it: `folder_kept` says why); never a pinned set (its pin's key is its folder).
    `why` goes into the audit entry (a prune names its plan line and rules). How many files went."""
    storage = console.storage(record.target)
    with console.audited("backup.delete-set", storage.location(record.folder),
                         {"set_id": record.set_id, "target": record.target, **(why or {})}) as detail:
        refuse_if_pinned(console, record)
        # Forgotten first: a delete cut short after the manifest leaves an unfinished set to sweep (a set the catalog
        # knows whose manifest is gone is damaged, and never swept); one cut short before it is listed again.
        SetCatalog(console.catalog).forget(record.target, record.folder)
        storage.delete(record.manifest_key)
        rest = remove_folder(storage, record.folder)
        removed = FolderRemoval(1 + rest.files, rest.folder_kept)
        detail.update(files=removed.files)
        if removed.folder_kept:
            detail.update(folder_kept=removed.folder_kept)
        return removed
