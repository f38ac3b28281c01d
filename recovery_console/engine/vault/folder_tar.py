"""A file vault (a folder) as a streamed tar: what a recovery set carries for an application's attachments.

Regular files, directories and symbolic links (stored as links, never followed: a link pointing out
of the folder is kept as what it is and refused on extraction), with their modes and modification
times; sockets, FIFOs and device nodes are skipped and reported. The tar is written forward to any
stream (POSIX pax format, UTF-8 names), so the folder goes straight into an encrypted backup.

File content goes out in the pieces it is read in (READ_PIECE), headers gathered into pieces of about
that size: `tarfile`'s stream mode would cut everything into 10 KiB writes, and a reader on another
thread would wake for each.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import suppress
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


def _walk(root: Path) -> Iterator[tuple[Path, bool]]:
    """Every entry below `root` and whether it is a folder, parents before children, names sorted; links are
    listed, never entered."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as found:
                entries = sorted(((e.name, e.is_dir(follow_symlinks=False)) for e in found), reverse=True)
        except OSError as exc:
            raise from_os_error("listing", str(folder), exc) from exc
        for name, is_dir in entries:
            path = folder / name
            yield path, is_dir
            if is_dir:
                stack.append(path)


def content_size(root: Path) -> int:
    """The bytes of regular-file content below `root` (for progress), links not followed."""
    total = 0
    for path, is_dir in _walk(root):
        if not is_dir:
            with suppress(OSError):  # gone since it was listed: the tar's own look reports it
                info = path.lstat()
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
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",  # type: ignore[call-overload]
                      errors="surrogateescape", copybufsize=READ_PIECE) as tar:
        for path, _ in _walk(root):
            reporter.check()
            name = path.relative_to(root).as_posix()
            try:
                info = tar.gettarinfo(str(path), arcname=name)
            except OSError as exc:
                raise from_os_error("reading", str(path), exc) from exc
            if info is None:  # a socket: gettarinfo has no tar type for it
                summary.skipped.append(f"{name}: not a file, folder or link (a socket, FIFO or device)")
                continue
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
    out.flush()
    return summary
