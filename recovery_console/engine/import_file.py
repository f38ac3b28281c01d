"""What `backup upload` was given: a backup file, a plain pg_dump custom-format archive, or a tar of a file vault.

Told apart by their first bytes, never by their names; anything else (a plain-SQL dump, pg_dump's tar or
directory format, a compressed dump) is refused naming what it is and what to do instead.
"""

from __future__ import annotations

import gzip
import hashlib
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.archive.cursor import ArchiveIncomplete
from recovery_console.engine.container import format as fmt
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.progress import Reporter
from recovery_console.errors import IntegrityError, NotFoundError, UnsupportedError, UsageError, from_os_error

SNIFF_BYTES = 64 << 10
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BACKUP, PG_DUMP, TAR = "backup", "pg_dump", "tar"
_TAR_MAGIC_AT = 257
_SQL_MARKERS = ("PostgreSQL database dump", "PostgreSQL database cluster dump")
_SQL_STARTS = ("--", "SET ", "CREATE ", "\\connect", "BEGIN;", "COPY ", "INSERT ")
_TAR_HINT = "Make a tar of the vault folder itself (gzip or zstd compressed, or not at all) and upload that."
_TAR_CLI_HINT = "Make it with `tar -czf vault.tar.gz -C FOLDER .` and upload that."


@dataclass(frozen=True)
class FoundFile:
    """A file to upload and what it holds; `compression` is a tar file's own (none, gzip, zstd)."""

    path: Path
    kind: str
    size: int
    compression: str = "none"
    header: pgarchive.ArchiveHeader | None = None


def identify(path: Path) -> FoundFile:
    """What `path` holds, from its first bytes; refuses what cannot be uploaded, saying what it is."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist.") from None
    except OSError as exc:
        raise from_os_error("opening", str(path), exc) from exc
    if stat.S_ISDIR(info.st_mode):
        if (path / "toc.dat").is_file():
            raise UnsupportedError(f"{path} is a pg_dump directory-format archive (pg_dump -Fd); "
                                   "only the custom format (pg_dump -Fc) is imported.",
                                   hint="Dump the database again in the custom format, or restore this archive "
                                        "with pg_restore and back that database up.")
        raise UsageError(f"{path} is a folder; upload takes one file.", hint=_TAR_HINT, cli_hint=_TAR_CLI_HINT)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file.", hint="Name the file itself.")
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise from_os_error("reading", str(path), exc) from exc
    if head.startswith(fmt.MAGIC):
        return FoundFile(path, BACKUP, info.st_size)
    if head.startswith(pgarchive.MAGIC):
        return FoundFile(path, PG_DUMP, info.st_size, header=_dump_header(path, head))
    if head.startswith(GZIP_MAGIC):
        return FoundFile(path, TAR, info.st_size, compression="gzip")
    if head.startswith(ZSTD_MAGIC):
        return FoundFile(path, TAR, info.st_size, compression="zstd")
    if is_tar_block(head):
        return FoundFile(path, TAR, info.st_size)
    raise not_importable(str(path), head)


def _dump_header(path: Path, head: bytes) -> pgarchive.ArchiveHeader:
    try:
        return pgarchive.parse_header(head)
    except ArchiveIncomplete:
        raise IntegrityError(f"{path} is cut short: it ends at byte {len(head)}, inside the pg_dump archive's header.",
                             hint="Copy the dump again from where it was made, or make a new one.") from None


def is_tar_block(head: bytes) -> bool:
    """Whether `head` starts with a POSIX (ustar or GNU) tar header."""
    return len(head) >= tarfile.BLOCKSIZE and head[_TAR_MAGIC_AT:_TAR_MAGIC_AT + 5] == b"ustar"


def not_importable(what: str, head: bytes) -> UnsupportedError:
    """The refusal of a file (or a compressed file's contents) that is neither a backup, a dump nor a tar."""
    if head.startswith(pgarchive.MAGIC):
        return UnsupportedError(f"{what} is a compressed pg_dump archive; the archive itself is imported.",
                                hint="Decompress it first and upload the .dump file.")
    text = head[:4096].decode("utf-8", errors="replace")
    if any(marker in text for marker in _SQL_MARKERS) or text.lstrip().startswith(_SQL_STARTS):
        return UnsupportedError(
            f"{what} is a plain-SQL dump (pg_dump's default text format); only custom-format archives "
            "(pg_dump -Fc) are imported.",
            hint="Load it into a database with psql and back that database up, or dump the source again "
                 "in the custom format.",
        )
    return UnsupportedError(
        f"{what} is neither a backup, a pg_dump custom-format archive (pg_dump -Fc) nor a tar of a vault folder "
        f"(it starts with {head[:8].hex(' ') or 'nothing: it is empty'}).",
        hint="Upload a backup file, a pg_dump -Fc archive, or a .tar, .tar.gz or .tar.zst of a folder.",
    )


class HashingReader:
    """A forward reader hashing and counting what passes through it; with a reporter, it reports those bytes."""

    def __init__(self, stream: ReadableStream, reporter: Reporter | None = None) -> None:
        self._stream = stream
        self._reporter = reporter
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except OSError as exc:
            raise from_os_error("reading", "the file to import", exc) from exc
        self.sha.update(data)
        self.size += len(data)
        if self._reporter is not None:
            self._reporter.advance(len(data))
        return data


class Decompressed:
    """A tar file's contents as a forward stream, whatever its compression; a damaged one raises IntegrityError."""

    def __init__(self, raw: HashingReader, compression: str, where: str) -> None:
        self._where = where
        self._compression = compression
        self._stream: ReadableStream
        if compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]  # only read() is used
        elif compression == "zstd":
            self._stream = zstandard.ZstdDecompressor().stream_reader(
                raw, read_across_frames=True)  # type: ignore[arg-type]  # only read() is used
        else:
            self._stream = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except (EOFError, gzip.BadGzipFile, zstandard.ZstdError) as exc:
            raise IntegrityError(f"{self._where} is damaged: its {self._compression} data is cut short or corrupt "
                                 f"({exc}).", hint="Copy the file again from where it was made.") from exc


class Replayed:
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: ReadableStream) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        size = len(self._head) if size < 0 else size
        data, self._head = self._head[:size], self._head[size:]
        return data


def open_input(path: Path) -> BinaryIO:
    """The file to import, opened read-only."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise from_os_error("opening", str(path), exc) from exc
