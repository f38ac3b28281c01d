"""A plain pg_dump archive or a vault's tar imported as a backup: encrypted onto the target, then verified there.

The input is only read: once to hash it (a tar is also checked member by member by the vault's own
rules, engine/vault/vault_extract.py), once more to encrypt it. The second read must give the same
bytes as the first, or nothing is kept. No plaintext is written anywhere. The stored backup is read
back from the target and fully verified; if that fails or is cancelled it is deleted again.
"""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from recovery_console import __version__
from recovery_console.engine.archive.archive_probe import ArchiveProbe
from recovery_console.engine.container.naming import backup_key
from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.container.writer import EncryptResult
from recovery_console.engine.encrypted_store import store_encrypted
from recovery_console.engine.import_file import (
    PG_DUMP,
    Decompressed,
    FoundFile,
    HashingReader,
    Replayed,
    is_tar_block,
    not_importable,
    open_input,
)
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.storage.base import Storage
from recovery_console.engine.vault.vault_extract import check_tar
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import IntegrityError, UnsupportedError
from recovery_console.formatting import counted
from recovery_console.models.backup import KIND_FOLDER, BackupMetadata

READ_SIZE = 1 << 20
SHOWN_REFUSALS = 5
_CHANGED = ("{path} changed while it was being imported (its bytes differ from the first read); nothing was kept.",
            "Import it again once nothing is writing to it.")


@dataclass(frozen=True)
class Imported:
    """What was stored: its key, the writer's result (metadata as sealed) and the file's own SHA-256."""

    key: str
    result: EncryptResult
    file_sha256: str


@dataclass(frozen=True)
class TarCheck:
    """The first read of a tar file: its own hash, the hash and length of the tar inside, what it holds."""

    file_sha256: str
    tar_sha256: str
    tar_length: int
    counts: dict[str, int]


@dataclass(frozen=True)
class PreparedFile:
    """A file read once (hashed; a tar also checked), with the metadata of the backup it becomes.

    `payload()` reads it again as the stream to encrypt: one backup here, and the seam where a recovery
    set (`--as-set`) would stream each of its files into a member instead."""

    found: FoundFile
    metadata: BackupMetadata
    file_sha256: str
    payload_size: int
    tar: TarCheck | None = None

    @contextmanager
    def payload(self, reporter: Reporter) -> Iterator[tuple[ReadableStream, Callable[[EncryptResult], None]]]:
        """The payload stream (progress: the input file's bytes) and the check to pass once it was read whole,
        before anything is committed: a whole archive, or the very tar checked, from an unchanged file."""
        reporter.start(Phase.ENCRYPT, self.found.size)
        with open_input(self.found.path) as handle:
            raw = HashingReader(handle, reporter)
            if self.tar is None:
                probe = ArchiveProbe(raw)
                try:
                    yield probe, lambda _: self._dump_unchanged(probe, raw)
                finally:
                    probe.close()
            else:
                yield Decompressed(raw, self.found.compression, str(self.found.path)), self._tar_unchanged

    def _dump_unchanged(self, probe: ArchiveProbe, raw: HashingReader) -> None:
        probe.require_archive()
        if raw.sha.hexdigest() != self.file_sha256:
            raise IntegrityError(_CHANGED[0].format(path=self.found.path), hint=_CHANGED[1])

    def _tar_unchanged(self, result: EncryptResult) -> None:
        sealed, tar = result.sentinel, self.tar
        assert tar is not None
        if sealed.archive_length != tar.tar_length or sealed.archive_sha256.hex() != tar.tar_sha256:
            raise IntegrityError(_CHANGED[0].format(path=self.found.path), hint=_CHANGED[1])


def prepare(found: FoundFile, reporter: Reporter, refuse_again: Callable[[str], None] = lambda _: None) -> PreparedFile:
    """The first read of a pg_dump archive or a tar; `refuse_again(file_sha256)` may refuse a file imported before."""
    if found.kind == PG_DUMP:
        file_sha256 = _hash_file(found, reporter)
        refuse_again(file_sha256)
        return PreparedFile(found, _dump_metadata(found, file_sha256), file_sha256, found.size)
    check = _check_tar(found, reporter)
    refuse_again(check.file_sha256)
    return PreparedFile(found, _folder_metadata(found, check), check.file_sha256, check.tar_length, check)


def import_file(found: FoundFile, storage: Storage, secret: str, reporter: Reporter,
                refuse_again: Callable[[str], None] = lambda _: None) -> Imported:
    """Encrypt `found` (a pg_dump archive or a tar) into a new backup on `storage`, verified there.

    `refuse_again(file_sha256)` raises if the target already holds an import of the same file."""
    prepared = prepare(found, reporter, refuse_again)
    key = backup_key(prepared.metadata)
    with prepared.payload(reporter) as (source, check):
        result = store_encrypted(storage, key, source, secret, prepared.metadata, reporter=quiet(reporter),
                                 source_size=prepared.payload_size, before_commit=check)
    verify_stored(storage, key, secret, result, reporter)
    return Imported(key, result, prepared.file_sha256)


def _hash_file(found: FoundFile, reporter: Reporter) -> str:
    reporter.start(Phase.READ, found.size)
    with open_input(found.path) as handle:
        reader = HashingReader(handle, reporter)
        while reader.read(READ_SIZE):
            pass
    return reader.sha.hexdigest()


def _provenance(found: FoundFile, file_sha256: str) -> dict[str, Any]:
    return {"imported_from": {"path": _text(str(found.path.absolute())), "size": found.size, "sha256": file_sha256,
                              "imported_by": user_at_host(), "imported_at": utc_now()}}


def _text(name: str) -> str:
    """A file name as text the metadata can hold (a name that is not UTF-8 keeps its bytes as escapes)."""
    return name.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _metadata(found: FoundFile, compression: str, extra: dict[str, Any], **fields: Any) -> BackupMetadata:
    return BackupMetadata(
        backup_id=str(uuid.uuid4()), created_at=utc_now(), app_version=__version__, mode="manual",
        description=f"imported from {_text(found.path.name)}", compression=compression, source="file",
        source_name=_text(found.path.name), created_by=user_at_host(), extra=extra, **fields,
    )


def _dump_metadata(found: FoundFile, file_sha256: str) -> BackupMetadata:
    """What the archive's header says of itself: database, versions, and when pg_dump started (its local time)."""
    header = found.header
    assert header is not None
    extra = _provenance(found, file_sha256)
    extra["dumped_at_local"] = header.created.isoformat() if header.created else None
    # pg_dump's own compression is kept as it is; an uncompressed archive is compressed the console's way
    return _metadata(found, "zstd" if header.compression == "none" else "none", extra, database=header.dbname,
                     server_version=header.server_version, pg_dump_version=header.dump_version)


def _check_tar(found: FoundFile, reporter: Reporter) -> TarCheck:
    """Read the tar to its end once: every member through the vault's rules; anything refused stops the import."""
    reporter.start(Phase.READ, found.size)  # read and checked: progress labels this "Reading"
    with open_input(found.path) as handle:
        raw = HashingReader(handle, reporter)
        inner = HashingReader(Decompressed(raw, found.compression, str(found.path)))
        head = inner.read(tarfile.BLOCKSIZE)
        _require_tar(found, head)
        checked = check_tar(Replayed(head, inner), reporter)
        for rest in (inner, raw):  # past the end marker: the tar's padding, stored too; then the file, for its hash
            while rest.read(READ_SIZE):
                pass
    if checked.refused:
        shown = "; ".join(checked.refused[:SHOWN_REFUSALS])
        more = len(checked.refused) - SHOWN_REFUSALS
        raise IntegrityError(
            f"{found.path} holds {counted(len(checked.refused), 'member')} a vault may not: {shown}"
            + (f"; and {more} more" if more > 0 else "") + ". Nothing was uploaded.",
            hint="A vault's tar holds only files, folders and links inside it, with relative names; make the tar "
                 "again from the vault folder itself.",
        )
    counts = {"files": checked.files, "directories": checked.directories, "links": checked.links,
              "content_bytes": checked.content_bytes}
    return TarCheck(raw.sha.hexdigest(), inner.sha.hexdigest(), inner.size, counts)


def _require_tar(found: FoundFile, head: bytes) -> None:
    """Refuse compressed contents that are not a tar, and pg_dump's own tar format, before reading further."""
    if not is_tar_block(head):
        what = f"{found.path} ({found.compression}-compressed)" if found.compression != "none" else str(found.path)
        raise not_importable(what, head)
    if tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape").name == "toc.dat":
        raise UnsupportedError(f"{found.path} is a pg_dump tar-format archive (pg_dump -Ft), not a vault's tar; "
                               "only the custom format (pg_dump -Fc) is imported.",
                               hint="Dump the database again in the custom format, or restore this archive with "
                                    "pg_restore and back that database up.")


def _folder_metadata(found: FoundFile, check: TarCheck) -> BackupMetadata:
    extra = _provenance(found, check.file_sha256)
    extra.update(kind=KIND_FOLDER, tar_compression=found.compression, folder=check.counts)
    return _metadata(found, "zstd", extra)


def quiet(reporter: Reporter) -> Reporter:
    """The writer's reporter: the same cancel, but progress counts the input file's bytes, not the writer's."""
    return Reporter(token=reporter.token)


def verify_stored(storage: Storage, key: str, secret: str, stored: EncryptResult, reporter: Reporter) -> None:
    """Read the new backup back from the target and verify it fully; delete it (and its sidecar) unless it passes."""
    try:
        with storage.open_read(key) as stream:
            report = read_stream(stream, secret, reporter=reporter, total=stored.encrypted_size)
        if report.ciphertext_sha256 != stored.encrypted_sha256:
            raise IntegrityError("The backup read back from the target differs from what was written; "
                                 "it was deleted again.", hint="Check the target's storage, then import again.")
    except BaseException:
        for name in (key, key + SIDECAR_SUFFIX):
            with suppress(Exception):
                storage.delete(name)
        raise
