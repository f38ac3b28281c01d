"""Replication: copy a stored backup to another target as it is — ciphertext and sidecar, no key, no plaintext.

The copy streams through one 1 MiB buffer into the secondary's `put` (a hidden temp name or a multipart
upload, renamed or completed only when whole: a kill leaves nothing listed), hashing as it goes, and is
committed only if every byte hashed to the sidecar's SHA-256. The sidecar follows it; then both are read
back from the secondary through the same client and checked again. A copy that fails its check is
removed. A backup already on the secondary is not sent again, only checked (its sidecar written if a
kill came between the two), so a copy that was killed is simply run again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container.streams import SIDECAR_SUFFIX, HashingReader, parse_sidecar, sidecar_text
from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.output_checks import COPY_BLOCK
from recovery_console.engine.pinning import copies_of
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import IntegrityError, NotFoundError, UsageError
from recovery_console.models.backup import BackupRecord

SEND_BLOCK = 8 << 20  # one source read: large enough that per-read Python overhead is negligible, one S3 part


@dataclass(frozen=True)
class CopyResult:
    """A backup now on the secondary, checked there; `already` when it was there before and only checked."""

    source: str
    target: str
    key: str
    size: int
    sha256: str
    already: bool = False


def replicate(console: Console, ref: BackupRef, target_name: str, reporter: Reporter | None = None) -> CopyResult:
    """Copy the backup `ref` to `target_name` and prove the copy there; one audit entry."""
    if ref.record is None or ref.storage is None:
        raise UsageError(f"{ref.location} is a file on this machine, not a stored backup.",
                         hint="Import it into a target with upload instead.")
    record, source = ref.record, ref.storage
    dest = console.storage(target_name)
    if dest.name == source.name:
        raise UsageError(f"The backup is already on target '{dest.name}'; choose another target to copy it to.")
    reporter = reporter or Reporter()
    with console.audited("backup.copy", ref.location, {"to": dest.name, "key": record.key}) as detail:
        side_raw = _sidecar_bytes(source, record)
        expected = parse_sidecar(side_raw)
        already = present(dest, record.key)
        if not already:
            dest.check_room(record.size + len(side_raw))
            reporter.start(Phase.UPLOAD, record.size)
            send_checked(ref.open, ref.location, dest, record.key, expected, reporter)
        if not already or not present(dest, record.key + SIDECAR_SUFFIX):
            try:
                dest.put_bytes(record.key + SIDECAR_SUFFIX, side_raw)
            except BaseException:
                if not already:
                    _remove(dest, record.key)
                raise
        reporter.start(Phase.VERIFY, record.size)
        try:
            check_copy(dest, record.key, expected, reporter)
        except IntegrityError:
            if not already:
                _remove(dest, record.key)
            raise
        _catalog(console, dest, record, expected)
        detail.update(sha256=expected, size=record.size, already=already)
        return CopyResult(ref.location, dest.name, record.key, record.size, expected, already)


def copy_source(console: Console, ref: str, to: str, target: str | None = None) -> BackupRef:
    """The stored backup `ref` names, to copy to `to`: a copy on another target when the backup has several
    (an id names every copy of one backup; any of them is the same ciphertext)."""
    path = Path(ref).expanduser()
    if path.is_file():
        return console.locate(ref)
    records = copies_of(console, ref, target)
    record = next((r for r in records if r.target != to), records[0])
    return console.locate(f"{record.target}:{record.key}")


def _sidecar_bytes(source: Storage, record: BackupRecord) -> bytes:
    """The sidecar as stored; one made from the catalog's SHA-256 when the backup has none."""
    try:
        return source.get_bytes(record.key + SIDECAR_SUFFIX)
    except NotFoundError:
        if record.sha256 is None:
            raise NotFoundError(f"{source.location(record.key)} has no .sha256 sidecar and the catalog records no "
                                "SHA-256 for it, so a copy could not be checked; nothing was copied.",
                                hint="Verify the backup fully first: that records its SHA-256.") from None
        return sidecar_text(record.sha256, record.file_name)


def present(dest: Storage, key: str) -> bool:
    try:
        dest.stat(key)
    except NotFoundError:
        return False
    return True


def send_checked(open_source: Callable[[], ReadableFile], location: str, dest: Storage, key: str, expected: str,
                 reporter: Reporter) -> None:
    """Stream a stored file as it is into `key` on the secondary; committed only when every byte hashed to
    `expected`.

    Progress counts only what the secondary has acknowledged (put_acknowledged), so it never runs ahead
    of the parts an S3 target is still being sent.
    """
    with dest.put_acknowledged(key, reporter.advance) as upload, open_source() as stream:
        reader = HashingReader(stream)
        buf = bytearray(SEND_BLOCK)
        view = memoryview(buf)
        while n := reader.readinto(view):
            upload.write(view[:n])
            reporter.check()
        if reader.sha256 != expected:
            raise IntegrityError(f"{location} does not match its .sha256 sidecar (SHA-256 {reader.sha256}); "
                                 "it was not copied.",
                                 hint="The stored backup or its sidecar is damaged: verify it with the secret.")


def check_copy(dest: Storage, key: str, expected: str, reporter: Reporter) -> None:
    """Read the copy and its sidecar back from the secondary; both must say `expected`."""
    where = dest.location(key)
    if parse_sidecar(dest.get_bytes(key + SIDECAR_SUFFIX)) != expected:
        raise IntegrityError(f"The sidecar of the copy at {where} does not match the original's.",
                             hint="Delete the copy on that target and copy the backup again.")
    with dest.open_read(key) as stream:
        reader = HashingReader(stream)
        buf = bytearray(COPY_BLOCK)
        view = memoryview(buf)
        while n := reader.readinto(view):
            reporter.advance(n)
    if reader.sha256 != expected:
        raise IntegrityError(f"The copy at {where} reads back with SHA-256 {reader.sha256}, not the "
                             f"{expected} of its sidecar.",
                             hint="The secondary target altered or lost data; copy the backup again.")


def _remove(dest: Storage, key: str) -> None:
    for name in (key, key + SIDECAR_SUFFIX):
        with suppress(NotFoundError):
            dest.delete(name)


def _catalog(console: Console, dest: Storage, record: BackupRecord, sha256: str) -> None:
    if record.metadata is not None:
        console.catalog.add(dest, record.key, record.metadata, sha256)
    else:
        console.catalog.sync(dest)
