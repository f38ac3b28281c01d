"""Verify and decrypt whole backups from a stream: every chunk, the sentinel, the archive hash and TOC."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import zstandard

from recovery_console.engine.archive.completeness import BlockCheck
from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.toc_collector import TocCollector
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.archive_stream import ArchiveStream, undecompressable
from recovery_console.engine.container.reader import OpenedBackup, PayloadStream, open_backup, read_preamble
from recovery_console.engine.container.streams import HashingReader
from recovery_console.engine.io_protocols import ReadIntoStream, WritableStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.errors import FolderBackupError, IntegrityError, RecoveryError
from recovery_console.models.backup import KIND_FOLDER, BackupMetadata

if TYPE_CHECKING:
    from _hashlib import HASH

TOC_READ = 1 << 20
QUICK_WORKERS = max(1, min(3, os.cpu_count() or 1))
"""Decrypt threads of a quick verify: chunks are opened in parallel but their results taken in file order."""


@dataclass(frozen=True)
class StreamReport:
    """What reading a whole backup proved; the fields an auditor's verify result lists."""

    full: bool
    metadata: BackupMetadata
    header: fmt.Header
    payload_chunks: int
    payload_length: int
    encrypted_size: int
    ciphertext_sha256: str | None  # None when read with hash_ciphertext=False
    archive_length: int | None = None
    archive_sha256: str | None = None
    archive: Archive | None = None
    object_counts: dict[str, int] = field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        """All chunks in the file: metadata, payload and the end-of-backup record."""
        return self.payload_chunks + 2


def read_stream(
    stream: ReadIntoStream,
    secret: str,
    *,
    full: bool = True,
    sink: WritableStream | None = None,
    require_archive: bool = True,
    reporter: Reporter | None = None,
    total: int | None = None,
    hash_ciphertext: bool = True,
) -> StreamReport:
    """Decrypt every chunk and check the end-of-backup record; `full` also proves the archive hash and TOC.

    With a sink, the archive bytes are written to it as they are proven chunk by chunk; the
    caller must discard the sink's contents if this raises. `hash_ciphertext=False` skips the
    SHA-256 of the file itself (only needed to compare with a .sha256 sidecar); the report's
    `ciphertext_sha256` is then None. A full read without a sink (verify, upload) also walks every
    data block of the archive to its end, so an archive cut short is not certified as restorable;
    decrypt (with a sink) writes what the backup faithfully holds.
    """
    reporter = reporter or Reporter()
    source = HashingReader(stream, hash=hash_ciphertext)
    reporter.start(Phase.DERIVE_KEY)
    opened = open_backup(source, secret)
    require_archive = require_archive and opened.metadata.kind != KIND_FOLDER  # a folder's payload is a tar
    reporter.start(Phase.DECRYPT if sink is not None else Phase.VERIFY, total)
    reporter.advance(opened.payload_offset)
    ciphertext_sha = source.detach_hash()  # the payload stream hashes the rest off its read path
    blocks = BlockCheck() if full and sink is None and require_archive else None
    archive = (ArchiveStream(opened.metadata.compression, blocks or sink, parse_toc=require_archive)
               if full or sink is not None else None)
    try:
        return _read_payload(source, opened, reporter, archive, blocks, ciphertext_sha, require_archive)
    finally:
        if blocks is not None:
            blocks.close()


def _read_payload(source: HashingReader, opened: OpenedBackup, reporter: Reporter, archive: ArchiveStream | None,
                  blocks: BlockCheck | None, ciphertext_sha: HASH | None, require_archive: bool) -> StreamReport:
    """The payload part of read_stream: every chunk, the end record, and (with `archive`) the archive checks."""
    # With an archive to hash (or write), one worker thread decrypts while this one does that; with
    # nothing to do per chunk here (quick), every core decrypts, since AES-GCM releases the GIL.
    workers = 1 if archive is not None else QUICK_WORKERS
    payload = PayloadStream(source, opened, reporter, workers=workers, depth=workers + 2,
                            ciphertext_sha=ciphertext_sha)
    for chunk in payload:
        if archive is not None:
            archive.feed(chunk)
    sentinel = payload.sentinel
    assert sentinel is not None
    reporter.finish()
    report = StreamReport(
        full=archive is not None,
        metadata=opened.metadata,
        header=opened.header,
        payload_chunks=payload.chunks,
        payload_length=payload.payload_length,
        encrypted_size=source.size,
        ciphertext_sha256=ciphertext_sha.hexdigest() if ciphertext_sha is not None else None,
    )
    if archive is None:
        return report
    archive.finish()
    if archive.length != sentinel.archive_length or archive.sha256 != sentinel.archive_sha256.hex():
        raise IntegrityError(
            "The decrypted archive does not match the hash sealed in the backup "
            f"({archive.length} bytes, SHA-256 {archive.sha256[:16]}…; expected {sentinel.archive_length} bytes, "
            f"{sentinel.archive_sha256.hex()[:16]}…).",
            hint="The backup was written by a faulty or hostile writer; do not restore from it.",
        )
    if require_archive and archive.archive is None:
        cause = archive.archive_error
        raise IntegrityError(
            "The backup decrypts correctly, but its contents are not a readable pg_dump archive"
            + (f": {cause.message}" if cause else "."),
            hint="It cannot be restored with pg_restore. Check the source it was made from.",
        )
    if blocks is not None:
        try:
            blocks.result()
        except RecoveryError as exc:
            raise IntegrityError(
                f"The backup decrypts correctly, but the pg_dump archive it holds is not whole: {exc.message}",
                hint="It was made from a damaged or cut-short dump; pg_restore would fail on it. "
                     "Do not rely on this backup: make a new one.",
            ) from exc
    return replace(
        report,
        archive_length=archive.length,
        archive_sha256=archive.sha256,
        archive=archive.archive,
        object_counts=archive.archive.object_counts() if archive.archive else {},
    )


def not_a_database(metadata: BackupMetadata) -> FolderBackupError:
    """The refusal of a folder backup where a database archive is needed (contents, restore)."""
    return FolderBackupError(
        f"Backup {metadata.backup_id[:8]} holds a folder (a file vault's tar), not a database: "
        "it has no table of contents and cannot be restored into PostgreSQL.",
        hint="A folder backup is extracted into a new folder, or decrypted to get its tar back.",
        cli_hint="A folder backup restores with `decrypt BACKUP --extract NEW_FOLDER` "
                 "(or `decrypt BACKUP -o FILE.tar` for the tar itself).",
    )


def read_metadata(stream: ReadIntoStream, secret: str) -> tuple[fmt.Header, BackupMetadata]:
    """Open just the header and metadata chunk: cheap (one key derivation, no payload)."""
    opened = open_backup(stream, secret)
    return opened.header, opened.metadata


def read_header(stream: ReadIntoStream) -> fmt.Header:
    """The clear header, for keyless inspection."""
    return read_preamble(stream)[0]


class ChunkFile:
    """A read-only file over the payload's decrypted chunks (copied out of the reader's reused buffers), so a
    decompressor can be pulled from only as far as needed."""

    def __init__(self, chunks: Iterator[memoryview]) -> None:
        self._chunks = chunks
        self._current = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while not self._current:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._current = chunk
        size = len(self._current) if size < 0 else size
        data, self._current = bytes(self._current[:size]), self._current[size:]
        return data


def read_toc(stream: ReadIntoStream, secret: str) -> tuple[BackupMetadata, Archive]:
    """Decrypt (and decompress) only as far as the archive's TOC; each chunk read is still authenticated.

    Decompression is pulled a piece at a time: one 8 MiB chunk of a very compressible archive can
    expand to gigabytes, which listing the contents must not inflate.
    """
    opened = open_backup(stream, secret)
    if opened.metadata.kind == KIND_FOLDER:
        raise not_a_database(opened.metadata)
    chunks = PayloadStream(stream, opened).__iter__()  # a generator, closed below
    toc = TocCollector()
    source = ChunkFile(chunks)
    # zstandard's stub asks for an IO[bytes]; the reader only ever calls read() on it
    archive = (zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)  # type: ignore[arg-type]
               if opened.metadata.compression == "zstd" else source)
    try:
        while not toc.done:
            data = archive.read(TOC_READ)
            if not data:
                toc.finish()
                break
            toc.feed(data)
    except zstandard.ZstdError as exc:
        raise undecompressable(exc) from exc
    finally:
        chunks.close()
    if toc.archive is None:
        cause = toc.error
        raise IntegrityError("The backup decrypts, but its contents are not a readable pg_dump archive"
                             + (f": {cause.message}" if cause else "."))
    return opened.metadata, toc.archive
