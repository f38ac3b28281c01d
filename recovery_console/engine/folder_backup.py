"""A folder backup (a vault's tar, #18) extracted into a new folder, or listed, straight from the backup.

The backup is decrypted chunk by chunk into a queue in memory; engine/vault/vault_extract.py reads the tar from
the other end on a worker thread, with its rules (nothing written outside the folder, refusals named). It
extracts beside the folder under a temporary name, renamed to the folder only once the backup proved
whole to its end record; if anything fails or is cancelled, the temporary folder is removed.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from recovery_console.engine.background import in_background
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.container.verify import read_metadata, read_stream
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.engine.vault.byte_queue import ByteQueue
from recovery_console.engine.vault.tar_reader import TarReader
from recovery_console.engine.vault.vault_extract import Extracted, build_then_rename, extract_vault
from recovery_console.errors import IntegrityError, UnsupportedError, UsageError
from recovery_console.models.backup import KIND_FOLDER, BackupMetadata

LISTED_MEMBERS = 100_000
T = TypeVar("T")


def extract_folder_backup(ref: BackupRef, folder: Path, secret: str, reporter: Reporter | None = None,
                          claims: RuntimeDir | None = None) -> Extracted:
    """Extract the folder backup at `ref` into `folder`, which must not exist yet.

    With `claims`, the folder being built is claimed there: if this process is killed, the next sweep removes it."""
    reporter = reporter or Reporter()
    _check_new(folder)
    with ref.open() as stream:
        _, metadata = read_metadata(stream, secret)
    _require_folder(metadata)
    worker_reporter = Reporter(token=reporter.token)
    return build_then_rename(folder, claims, lambda building: _through_pipe(
        ref, secret, reporter, lambda tar_in: extract_vault(tar_in, building, worker_reporter, named=folder)),
        _check_new)


def _require_folder(metadata: BackupMetadata) -> None:
    if metadata.kind != KIND_FOLDER:
        raise UnsupportedError(f"Backup {metadata.backup_id[:8]} holds a database, not a folder: there is nothing "
                               "to extract into a folder.",
                               hint="Restore it into a database, or decrypt it to get its pg_dump archive.")


def _check_new(folder: Path) -> None:
    if os.path.lexists(folder):
        raise UsageError(f"{folder} already exists.", hint="Choose a new folder to extract into.")
    if not folder.parent.is_dir():
        raise UsageError(f"{folder.parent} is not a folder.", hint="Choose a new folder inside an existing one.")


def list_folder_backup(ref: BackupRef, secret: str, reporter: Reporter | None = None) -> FolderListing:
    """The members of a folder backup's tar, read straight from the backup (the whole backup is decrypted)."""
    reporter = reporter or Reporter()
    with ref.open() as stream:
        _, metadata = read_metadata(stream, secret)
    _require_folder(metadata)
    return _through_pipe(ref, secret, reporter, _list_members)


@dataclass
class FolderListing:
    """A folder backup's tar members in order (the first LISTED_MEMBERS of them) and how many there are."""

    members: list[tarfile.TarInfo] = field(default_factory=list)
    total: int = 0

    def lines(self) -> list[str]:
        """The members as `tar -tv` prints them (times in UTC), and how many more there are when not all are held."""
        lines = []
        for m in self.members:
            when = datetime.fromtimestamp(m.mtime, UTC).strftime("%Y-%m-%d %H:%M")
            link = f" -> {m.linkname}" if m.linkname else ""
            lines.append(f"{stat.filemode(m.mode | _MODE_TYPES.get(m.type, 0))} {m.size:>12} {when} {m.name}{link}")
        if self.total > len(self.members):
            lines.append(f"… and {self.total - len(self.members)} more")
        return lines


def member_type(member: tarfile.TarInfo) -> str:
    """A member's kind in words: file (also a sparse one), directory, symlink, hardlink, or other."""
    return _TYPES.get(member.type, "other")


_TYPES = {**dict.fromkeys(tarfile.REGULAR_TYPES, "file"), tarfile.DIRTYPE: "directory",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}
_MODE_TYPES = {**dict.fromkeys(tarfile.REGULAR_TYPES, stat.S_IFREG), tarfile.DIRTYPE: stat.S_IFDIR,
               tarfile.SYMTYPE: stat.S_IFLNK, tarfile.LNKTYPE: stat.S_IFREG}


def _list_members(tar_in: ReadableStream) -> FolderListing:
    listing = FolderListing()
    try:
        for member in TarReader(tar_in):
            listing.total += 1
            if len(listing.members) < LISTED_MEMBERS:
                listing.members.append(member.info)
    except tarfile.ReadError as exc:
        raise IntegrityError(f"The folder backup's tar is damaged: {exc}.",
                             hint="Verify the backup; an intact backup always holds a whole tar.") from exc
    return listing


def _through_pipe(ref: BackupRef, secret: str, reporter: Reporter, consume: Callable[[ReadableStream], T]) -> T:
    """Decrypt into a queue (engine/vault/byte_queue.py: a pipe in memory, its pieces handed over as they are) while a
    worker consumes the tar from the other end; the first error is raised.

    The backup is read to its end record even when the consumer is done early, so only a whole backup's
    result is returned."""
    queue = ByteQueue()
    worker: Future[T] = in_background(_consume_then_close, consume, queue, name="rc-folder-tar")
    try:
        with ref.open() as stream:
            read_stream(stream, secret, sink=queue, reporter=reporter, total=ref.size)
    except BaseException as exc:
        queue.close()  # the consumer sees a cut tar and stops
        failure = worker.exception()
        if failure is not None and _stopped_reading(exc):
            raise failure from None  # the consumer failed (a full disk, a damaged tar): its own error says why
        raise
    queue.close()
    return worker.result()


def _stopped_reading(exc: BaseException) -> bool:
    """Whether the decrypting side failed only because the consumer stopped reading (the queue's broken pipe, as it
    is or as the storage error the stream writer made of it)."""
    return isinstance(exc, BrokenPipeError) or isinstance(exc.__cause__, BrokenPipeError)


def _consume_then_close(consume: Callable[[ReadableStream], T], tar_in: ByteQueue) -> T:
    """The worker's side: consume, then read on to the stream's end; on failure the abandoned queue stops the writer."""
    try:
        done = consume(tar_in)
        while tar_in.read(1 << 16):  # the tar's padding: the decrypting side goes on to the backup's end record
            pass
        return done
    finally:
        tar_in.abandon()
