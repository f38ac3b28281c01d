"""A file vault (a folder) as a streamed tar: what a recovery set carries for an application's attachments.

Regular files, directories and symbolic links (stored as links, never followed: a link pointing out
of the folder is kept as what it is and refused on extraction), with their modes and modification
times; sockets, FIFOs and device nodes are skipped and reported. The tar is written forward to any
stream (POSIX pax format, UTF-8 names), so the folder goes straight into an encrypted backup.

Headers are built by engine/vault/pax_header.py (tarfile's own builder cost more than the content's
copy for small files); file content goes out in the pieces it is read in (READ_PIECE), headers
gathered into pieces of about that size, so a reader on another thread wakes once a piece.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.engine.io_protocols import WritableStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.vault.pax_header import (
    DIRECTORY,
    LINK,
    REGULAR,
    SYMLINK,
    end_of_archive,
    member_header,
    padding,
)
from recovery_console.errors import NotFoundError, StorageError, UsageError, from_os_error

READ_PIECE = 1 << 20


@dataclass
class FolderSummary:
    """What went into the tar: counts, bytes of file content, and what was skipped (with why)."""

    files: int = 0
    directories: int = 0
    links: int = 0
    content_bytes: int = 0
    skipped: list[str] = field(default_factory=list)


class _Sink:
    """The tar writer's output: small writes (headers, padding) gathered up to READ_PIECE, a piece of file content
    passed on as it is; counts what went out, which `tarfile` asks for with `tell`."""

    def __init__(self, sink: WritableStream) -> None:
        self._sink = sink
        self._pending = bytearray()
        self._written = 0

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if len(data) >= READ_PIECE // 4:
            self.flush()
            self._sink.write(data)
        else:
            self._pending += data
            if len(self._pending) >= READ_PIECE:
                self.flush()
        return len(data)

    def flush(self) -> None:
        if self._pending:
            self._sink.write(bytes(self._pending))
            self._pending.clear()

    def tell(self) -> int:
        return self._written


def _walk(root: str) -> Iterator[tuple[str, str, bool]]:
    """Every entry below `root` as (path, name relative to root, is a folder), parents before children, names
    sorted; links are listed, never entered."""
    stack = [(root, "")]
    while stack:
        folder, relative = stack.pop()
        try:
            with os.scandir(folder) as found:
                entries = sorted(((e.name, e.is_dir(follow_symlinks=False)) for e in found), reverse=True)
        except OSError as exc:
            raise from_os_error("listing", folder, exc) from exc
        for name, is_dir in entries:
            path, member = f"{folder}/{name}", f"{relative}{name}"
            yield path, member, is_dir
            if is_dir:
                stack.append((path, member + "/"))


def content_size(root: Path) -> int:
    """The bytes of regular-file content below `root` (for progress), links not followed."""
    total = 0
    for path, _, is_dir in _walk(str(root)):
        if not is_dir:
            with suppress(OSError):  # gone since it was listed: the tar's own look reports it
                info = os.lstat(path)
                total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def write_folder_tar(root: Path, sink: WritableStream, reporter: Reporter | None = None) -> FolderSummary:
    """Stream `root`'s contents as a tar to `sink` (member names relative to `root`); what went in."""
    reporter = reporter or Reporter()
    try:
        if not stat.S_ISDIR(root.lstat().st_mode):
            raise UsageError(f"{root} is not a folder.", hint="Name the vault's folder itself.")
    except FileNotFoundError:
        raise NotFoundError(f"The vault folder {root} does not exist.") from None
    summary = FolderSummary()
    reporter.start(Phase.READ, content_size(root))
    out = _Sink(sink)
    first_names: dict[tuple[int, int], str] = {}  # a file with several hard links: where its content went
    for path, name, _ in _walk(str(root)):
        reporter.check()
        try:
            info = os.lstat(path)
        except OSError as exc:
            raise from_os_error("reading", path, exc) from exc
        kind, linkname = _kind(path, name, info, first_names)
        if kind is None:
            summary.skipped.append(f"{name}: not a file, folder or link (a socket, FIFO or device)")
            continue
        size = info.st_size if kind == REGULAR else 0
        out.write(member_header(name, kind, mode=info.st_mode, uid=info.st_uid, gid=info.st_gid,
                                mtime_ns=info.st_mtime_ns, size=size, linkname=linkname))
        if kind == REGULAR:
            _copy_content(path, size, out, reporter)
            summary.files += 1
            summary.content_bytes += size
        elif kind == DIRECTORY:
            summary.directories += 1
        else:
            summary.links += 1
    out.write(end_of_archive(out.tell()))
    out.flush()
    return summary


def _kind(path: str, name: str, info: os.stat_result,
          first_names: dict[tuple[int, int], str]) -> tuple[bytes | None, str]:
    """The member's tar type and link target; None for what a vault leaves out (sockets, FIFOs, devices). A file's
    second and later hard links become links to the first name its content went under."""
    if stat.S_ISREG(info.st_mode):
        if info.st_nlink > 1:
            first = first_names.setdefault((info.st_dev, info.st_ino), name)
            if first != name:
                return LINK, first
        return REGULAR, ""
    if stat.S_ISDIR(info.st_mode):
        return DIRECTORY, ""
    if stat.S_ISLNK(info.st_mode):
        try:
            return SYMLINK, os.readlink(path)
        except OSError as exc:
            raise from_os_error("reading the link", path, exc) from exc
    return None, ""


def _copy_content(path: str, size: int, out: _Sink, reporter: Reporter) -> None:
    """`size` bytes of the file into the tar, then its padding; a file cut shorter since it was looked at fails
    (its header already promised `size` bytes), one grown since gives its first `size` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise from_os_error("reading", path, exc) from exc
    try:
        left = size
        while left:
            piece = os.read(fd, min(left, READ_PIECE))
            if not piece:
                raise StorageError(f"{path} became shorter while it was read: {left:,} of its {size:,} bytes were "
                                   "gone.", hint="Back the folder up again once nothing writes to it.")
            out.write(piece)
            reporter.advance(len(piece))
            left -= len(piece)
    except OSError as exc:
        raise from_os_error("reading", path, exc) from exc
    finally:
        os.close(fd)
    out.write(padding(size))
