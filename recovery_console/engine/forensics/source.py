"""What the forensic commands read: a plain pg_dump archive, or a backup decrypted as a stream.

Either way the caller gets the parsed TOC and a stream of the archive's data blocks, read once
from start to end; a backup's plaintext exists only in memory, a chunk at a time. Reading a backup
to its end also proves it whole: the archive's length and SHA-256 must match the sealed ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import zstandard

from recovery_console.engine.archive.pgarchive import MAGIC as ARCHIVE_MAGIC
from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.rowcount import split_at_toc
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.archive_stream import MAX_WINDOW, undecompressable
from recovery_console.engine.container.reader import PayloadStream, open_backup
from recovery_console.engine.container.verify import ChunkFile
from recovery_console.engine.io_protocols import ReadableFile, ReadableStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.errors import IntegrityError, UnsupportedError, from_os_error
from recovery_console.models.backup import BackupMetadata

READ_PIECE = 1 << 20
TAR_MAGIC, TAR_MAGIC_AT = b"ustar", 257


@dataclass(frozen=True)
class OpenedSource:
    """An archive being read: its TOC, the stream of its data blocks, and the backup's metadata (None if plain)."""

    location: str
    archive: Archive
    data: ReadableStream
    metadata: BackupMetadata | None
    head: bytes = b""
    """The archive's bytes before `data`: its header and TOC (for a reader that needs the whole archive)."""


class _Counted:
    """A plain archive file read forward, reporting progress (and honouring cancel) as it goes."""

    def __init__(self, fp: ReadableFile, reporter: Reporter) -> None:
        self._fp = fp
        self._reporter = reporter

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._fp.read(size)
        except OSError as exc:
            raise from_os_error("reading", "the archive", exc) from exc
        self._reporter.advance(len(data))
        return data


class _DecryptedArchive:
    """A backup's archive bytes, decrypted and decompressed on demand; at its end, checked against the sentinel."""

    def __init__(self, payload: PayloadStream, compression: str) -> None:
        self._payload = payload
        self._chunks: Generator[memoryview, None, None] = payload.__iter__()
        raw = ChunkFile(self._chunks)
        # zstandard's stub asks for an IO[bytes]; the reader only ever calls read() on it
        self._zstd = (zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_reader(
            raw, read_across_frames=True) if compression == "zstd" else None)  # type: ignore[arg-type]
        self._raw = raw
        self._sha = hashlib.sha256()
        self._length = 0
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(READ_PIECE), b""))
        try:
            data = self._zstd.read(size) if self._zstd is not None else self._raw.read(size)
        except zstandard.ZstdError as exc:
            raise undecompressable(exc) from exc
        if data:
            self._sha.update(data)
            self._length += len(data)
        elif not self._ended:
            self._ended = True
            self._check_end()
        return data

    def _check_end(self) -> None:
        sentinel = self._payload.sentinel
        if sentinel is None:
            raise IntegrityError("The backup ends without its end-of-backup record.")
        if self._length != sentinel.archive_length or self._sha.hexdigest() != sentinel.archive_sha256.hex():
            raise IntegrityError(
                "The decrypted archive does not match the hash sealed in the backup "
                f"({self._length} bytes; expected {sentinel.archive_length}).",
                hint="The backup was written by a faulty or hostile writer; do not trust what was read from it.",
            )

    def close(self) -> None:
        self._chunks.close()  # ends the reader threads


def is_backup(ref: BackupRef) -> bool:
    """Whether `ref` is an encrypted backup (else it is a plain pg_dump custom-format archive); other dumps are
    named and refused."""
    with ref.open() as stream:
        head = stream.read(TAR_MAGIC_AT + len(TAR_MAGIC))
    if head.startswith(ARCHIVE_MAGIC):
        return False
    if head.startswith(fmt.MAGIC):
        return True
    if head[TAR_MAGIC_AT:].startswith(TAR_MAGIC):
        raise UnsupportedError(f"{ref.location} is a tar archive (pg_dump -Ft?); only the custom format is read.",
                               hint="Dump the database again with pg_dump -Fc.")
    if b"PostgreSQL database dump" in head or head.lstrip().startswith((b"--", b"SET ", b"CREATE ")):
        raise UnsupportedError(f"{ref.location} is a plain SQL dump, not an archive.",
                               hint="Its tables are in it as text: load it with psql, or dump again with pg_dump -Fc.")
    raise IntegrityError(f"{ref.location} is neither a pg_dump custom-format archive nor a backup.",
                         hint="Name a backup (.enc), a backup id, or a `pg_dump -Fc` archive.")


def refuse_directory_dump(spec: str) -> None:
    """A folder holding toc.dat is a directory-format dump (pg_dump -Fd): say so instead of looking it up as an id."""
    if (Path(spec).expanduser() / "toc.dat").is_file():
        raise UnsupportedError(f"{spec} is a directory-format dump (pg_dump -Fd); only the custom format is read.",
                               hint="Dump the database again with pg_dump -Fc.")


@contextmanager
def open_source(ref: BackupRef, secret: Callable[[], str], reporter: Reporter) -> Iterator[OpenedSource]:
    """Open `ref` for one forward read of its archive; the secret is asked for only if it is a backup."""
    if not is_backup(ref):
        with ref.open() as fp:
            reporter.start(Phase.READ, ref.size)
            archive, head, rest = split_at_toc(_Counted(fp, reporter))
            yield OpenedSource(ref.location, archive, rest, None, head)
        return
    key = secret()
    with ref.open() as fp:
        reporter.start(Phase.DERIVE_KEY)
        opened = open_backup(fp, key)
        reporter.start(Phase.DECRYPT, ref.size)
        reporter.advance(opened.payload_offset)
        decrypted = _DecryptedArchive(PayloadStream(fp, opened, reporter), opened.metadata.compression)
        try:
            archive, head, rest = split_at_toc(decrypted)
            yield OpenedSource(ref.location, archive, rest, opened.metadata, head)
        finally:
            decrypted.close()
