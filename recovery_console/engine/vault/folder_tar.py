"""A file vault (a folder) as a streamed tar: what a recovery set carries for an application's attachments.

Regular files, directories and symbolic links (stored as links, never followed: a link pointing out
of the folder is kept as what it is and refused on extraction), with their modes and modification
times; sockets, FIFOs and device nodes are skipped and reported. The tar is written forward to any
stream (POSIX pax format, UTF-8 names), so the folder goes straight into an encrypted backup.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.engine.io_protocols import WritableStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.errors import NotFoundError, UsageError, from_os_error

READ_PIECE = 1 << 20


@dataclass
class FolderSummary:
    """What went into the tar: counts, bytes of file content, and what was skipped (with why)."""

    files: int = 0
    directories: int = 0
    links: int = 0
    content_bytes: int = 0
    skipped: list[str] = field(default_factory=list)


class _Counting:
    """A file opened for the tar writer, reporting bytes as they are read (and honouring cancel)."""

    def __init__(self, path: Path, reporter: Reporter) -> None:
        self._fp = open(path, "rb")  # noqa: SIM115 - closed by the caller's `with`
        self._reporter = reporter

    def read(self, size: int = -1) -> bytes:
        data = self._fp.read(size)
        self._reporter.advance(len(data))
        return data

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fp.close()


def _walk(root: Path) -> Iterator[Path]:
    """Every entry below `root`, parents before children, names sorted; links are listed, never entered."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            names = sorted(os.listdir(folder), reverse=True)
        except OSError as exc:
            raise from_os_error("listing", str(folder), exc) from exc
        for name in names:
            path = folder / name
            yield path
            if stat.S_ISDIR(path.lstat().st_mode):
                stack.append(path)


def content_size(root: Path) -> int:
    """The bytes of regular-file content below `root` (for progress), links not followed."""
    return sum(p.lstat().st_size for p in _walk(root) if stat.S_ISREG(p.lstat().st_mode))


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
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",  # type: ignore[call-overload]
                      errors="surrogateescape") as tar:
        for path in _walk(root):
            reporter.check()
            name = path.relative_to(root).as_posix()
            try:
                info = tar.gettarinfo(str(path), arcname=name)
            except OSError as exc:
                raise from_os_error("reading", str(path), exc) from exc
            info.uname = info.gname = ""
            if info.isreg():
                with _Counting(path, reporter) as fp:
                    tar.addfile(info, fp)
                summary.files += 1
                summary.content_bytes += info.size
            elif info.isdir():
                tar.addfile(info)
                summary.directories += 1
            elif info.issym() or info.islnk():  # a hard link names the member it shares its content with
                tar.addfile(info)
                summary.links += 1
            else:
                summary.skipped.append(f"{name}: not a file, folder or link (a socket, FIFO or device)")
    return summary
