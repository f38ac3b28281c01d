"""One member of a recovery set taken out: a database member decrypted to its pg_dump archive, a folder member
extracted into a new folder or restored in place by swap, each checked against the set's manifest.

A folder is extracted while its member file is decrypted (through a queue in memory, no plaintext copy on disk);
the member's end checks and the manifest's archive hash are proven before a new folder is kept or an
in-place swap is made, so nothing is replaced by what a damaged or substituted member holds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container.verify import StreamReport, read_stream
from recovery_console.engine.progress import Reporter
from recovery_console.engine.results import FileResult
from recovery_console.engine.sets.manifest import ManifestMember, SetManifest, open_manifest
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord
from recovery_console.engine.vault.byte_queue import ByteQueue
from recovery_console.engine.vault.vault_extract import Extracted, build_then_rename, extract_vault, restore_in_place
from recovery_console.errors import IntegrityError, NotFoundError, UsageError
from recovery_console.models.backup import BackupMetadata, BackupRecord


def manifest_of(console: Console, record: SetRecord, secret: str) -> SetManifest:
    """The set's manifest: the catalog's copy, else decrypted from the target (and remembered)."""
    if record.manifest is not None:
        return record.manifest
    storage = console.storage(record.target)
    try:
        with storage.open_read(record.manifest_key) as stream:
            manifest = open_manifest(stream, secret).manifest
    except NotFoundError:
        raise IntegrityError("The set's manifest is gone: the set is unfinished or was deleted.") from None
    SetCatalog(console.catalog).remember_manifest(record.target, record.folder, manifest)
    return manifest


def belongs(metadata: BackupMetadata, member: ManifestMember, set_id: str) -> bool:
    """Whether a member file's own metadata names the member the manifest lists (not one moved from another set)."""
    expected = {"set_id": set_id, "set_member": member.name, "set_member_kind": member.kind}
    return metadata.backup_id == member.backup_id and {k: metadata.extra.get(k) for k in expected} == expected


def pick_member(manifest: SetManifest, name: str) -> ManifestMember:
    try:
        return manifest.member(name)
    except KeyError:
        raise NotFoundError(f"The set has no member '{name}'.",
                            hint="Its members: " + ", ".join(m.name for m in manifest.members) + ".") from None


def member_ref(console: Console, record: SetRecord, member: ManifestMember) -> BackupRef:
    """The member's file as a backup the console can act on like any other (decrypt, inspect, contents)."""
    storage = console.storage(record.target)
    key = record.folder + member.key
    try:
        info = storage.stat(key)
    except NotFoundError:
        raise IntegrityError(f"Member '{member.name}' ({member.key}) is missing from the set.",
                             hint="The set is damaged; take this member from another set or copy.") from None
    if info.size != member.size:
        raise IntegrityError(f"Member '{member.name}' ({member.key}) is {info.size:,} bytes; the manifest says "
                             f"{member.size:,}.", hint="The set is damaged; take this member from another set.")
    stand_in = BackupRecord(short_id=member.backup_id.replace("-", "")[:8], target=record.target, key=key,
                            size=info.size, mtime=info.mtime, sha256=member.sha256)
    return BackupRef(storage.location(key), stand_in, storage)


def decrypt_database_member(console: Console, record: SetRecord, name: str, out: Path, secret: str, *,
                            overwrite: bool = False, reporter: Reporter | None = None) -> FileResult:
    """A database member to its plain pg_dump archive; kept only if it is the archive the manifest names."""
    manifest = manifest_of(console, record, secret)
    member = pick_member(manifest, name)
    database_only(member)
    return decrypt_member(console, manifest, member, member_ref(console, record, member), out, secret,
                          overwrite=overwrite, reporter=reporter)


def database_only(member: ManifestMember) -> None:
    if member.kind != "database":
        raise UsageError(f"Member '{member.name}' is a folder; extract it into a new folder instead.")


def decrypt_member(console: Console, manifest: SetManifest, member: ManifestMember, ref: BackupRef, out: Path,
                   secret: str, *, overwrite: bool = False, reporter: Reporter | None = None) -> FileResult:
    """The member file `ref` decrypted to `out`, kept only if it is the archive (and member) the manifest names."""
    result = console.decrypt(ref, out, secret, overwrite=overwrite, reporter=reporter)
    if (result.size, result.sha256) != (member.archive_length, member.archive_sha256) or \
            result.metadata is None or not belongs(result.metadata, member, manifest.set_id):
        with suppress(OSError):
            out.unlink()
        raise IntegrityError(f"Member '{member.name}' decrypts, but not to the archive the set's manifest names; "
                             "the output was removed.", hint="The member was replaced: the set is damaged.")
    return result


@dataclass(frozen=True)
class FolderResult:
    member: ManifestMember
    extracted: Extracted


def extract_folder_member(console: Console, record: SetRecord, name: str, secret: str, *, into: Path | None = None,
                          in_place: bool = False, reporter: Reporter | None = None) -> FolderResult:
    """A folder member into the new folder `into`, or (`in_place`) over the folder it was taken from, the previous
    one kept as `<folder>.pre_restore_<time>`; audited."""
    manifest = manifest_of(console, record, secret)
    member = pick_member(manifest, name)
    folder_only(member)
    if in_place == (into is not None):
        raise UsageError("Name a new folder to extract into, or restore in place; one of the two.")
    if in_place and not member.folder:
        raise UsageError(f"Member '{name}' was imported from a tar file: the set does not know the folder it came "
                         "from, so it cannot be restored in place.", hint="Restore it into a new folder.",
                         cli_hint="Restore it into a new folder with --new-folder DIR.")
    ref = member_ref(console, record, member)
    if in_place:
        destination = Path(member.folder or "")
        with console.audited("set.restore-folder", str(destination),
                             {"set": record.folder, "member": name, "target": record.target}) as detail:
            with _decrypted(ref, secret, member, manifest.set_id) as (stream, proven):
                done = restore_in_place(stream, destination, reporter, proven=proven, claims=console.runtime)
            detail.update(files=done.files, refused=len(done.refused),
                          kept_previous=str(done.kept_previous) if done.kept_previous else None)
            return FolderResult(member, done)
    assert into is not None
    return extract_member(console, manifest, member, ref, into, secret,
                          {"set": record.folder, "member": name, "target": record.target}, reporter)


def folder_only(member: ManifestMember) -> None:
    if member.kind != "folder":
        raise UsageError(f"Member '{member.name}' is a database; it restores through the database restore.")


def extract_member(console: Console, manifest: SetManifest, member: ManifestMember, ref: BackupRef, into: Path,
                   secret: str, audit: dict[str, str], reporter: Reporter | None = None) -> FolderResult:
    """The folder member file `ref` extracted into the new folder `into`, kept only once the whole file proved to be
    the member the manifest pins; audited with `audit` as its detail. It is built beside `into` under a hidden
    name claimed in the runtime folder (a kill -9 leaves nothing the next start does not remove), then renamed."""
    with console.audited("set.extract-folder", str(into), audit) as detail:
        _check_new(into)
        with _decrypted(ref, secret, member, manifest.set_id) as (stream, proven):

            def extract(building: Path) -> Extracted:
                extracted = extract_vault(stream, building, reporter, named=into)
                proven()
                return extracted

            done = build_then_rename(into, console.runtime, extract, _check_new)
        detail.update(files=done.files, refused=len(done.refused), kept_previous=None)
        return FolderResult(member, done)


def _check_new(into: Path) -> None:
    if os.path.lexists(into):
        raise UsageError(f"{into} already exists.", hint="Name a new folder, or restore the member in place.")


class _QueueSource:
    """The decrypted tar as the extractor reads it; at the end of the queue, the decryption's own failure is raised."""

    def __init__(self, queue: ByteQueue, finished: threading.Event, failed: list[BaseException]) -> None:
        self._queue = queue
        self._finished, self._failed = finished, failed

    def read(self, size: int = -1) -> bytes:
        data = self._queue.read(size)
        if not data:
            self._finished.wait()
            if self._failed:
                raise self._failed[0]
        return data

    def close(self) -> None:
        self._queue.abandon()


@contextmanager
def _decrypted(ref: BackupRef, secret: str, member: ManifestMember,
               set_id: str) -> Iterator[tuple[_QueueSource, _Proof]]:
    """Decrypt the member on a thread into a queue (engine/vault/byte_queue.py: its pieces handed over as they are,
    where a pipe made the two threads take turns in 64 KiB); `proven()` waits for the whole file's checks and the
    manifest's archive hash, and raises if either fails."""
    queue = ByteQueue()
    finished = threading.Event()
    failed: list[BaseException] = []
    reports: list[StreamReport] = []

    def decrypt() -> None:
        try:
            with ref.open() as stream:
                reports.append(read_stream(stream, secret, sink=queue, require_archive=False))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading side
            failed.append(exc)
        finally:
            queue.close()
            finished.set()

    source = _QueueSource(queue, finished, failed)
    thread = threading.Thread(target=decrypt, name="rc-member-decrypt", daemon=True)
    thread.start()
    try:
        yield source, _Proof(source, finished, failed, reports, member, set_id)
    finally:
        source.close()  # a decryption still writing gets BrokenPipeError and ends
        thread.join()


class _Proof:
    """Called once the tar is extracted: the rest of the stream read, the file's end checks passed, the archive the
    one the manifest pins."""

    def __init__(self, source: _QueueSource, finished: threading.Event, failed: list[BaseException],
                 reports: list[StreamReport], member: ManifestMember, set_id: str) -> None:
        self._source, self._finished, self._failed, self._reports = source, finished, failed, reports
        self._member, self._set_id = member, set_id

    def __call__(self) -> None:
        while self._source.read(1 << 16):  # tar padding after the end marker, then the end of the stream
            pass
        self._finished.wait()
        if self._failed:
            raise self._failed[0]
        report = self._reports[0]
        if (report.archive_length, report.archive_sha256) != (self._member.archive_length,
                                                              self._member.archive_sha256) or \
                report.ciphertext_sha256 != self._member.sha256 or \
                not belongs(report.metadata, self._member, self._set_id):
            raise IntegrityError(f"Member '{self._member.name}' decrypts, but not to the archive the set's manifest "
                                 "names; nothing was kept.", hint="The member was replaced: the set is damaged.")
