"""A vault's tar extracted into a new folder, or in place by swap, never writing outside that folder.

Every member passes Python's `tarfile.data_filter` (PEP 706): an absolute name, a `..` that climbs
out, a link whose target leaves the folder, a device node or FIFO is refused with its name, and
nothing is written for it; the other members are extracted, with their modes (without set-id
bits) and times. The tar is read forward from any stream. In place, the new contents are built
beside the folder first and swapped in by two renames, the previous folder kept as
`<folder>.pre_restore_<time>`: nothing is destroyed before its replacement is whole.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.progress import Reporter
from recovery_console.errors import IntegrityError, UsageError, from_os_error

END_MARKER = 2 * tarfile.BLOCKSIZE  # two zero blocks end every whole tar
READ_PIECE = 1 << 20
"""Bytes taken from the stream at once, and a member's content copied in pieces of this size."""


class _Tail:
    """The tar's stream as `tarfile` reads it, read ahead in pieces of READ_PIECE: a tar cut at a member boundary
    reads as a clean end to `tarfile`, so its end-of-archive marker is checked here, in the bytes that follow the
    last member (read on from the stream if they are not here yet)."""

    def __init__(self, stream: ReadableStream) -> None:
        self._stream = stream
        self._previous = b""
        self._piece = b""
        self._start = 0  # the stream offset of self._piece
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(READ_PIECE), b""))
        if self._offset == len(self._piece):
            self._start += len(self._piece)
            self._previous, self._piece, self._offset = self._piece, self._stream.read(max(size, READ_PIECE)), 0
        start, self._offset = self._offset, min(len(self._piece), self._offset + size)
        return self._piece[start:self._offset]

    def ends_whole(self, end: int) -> bool:
        """Whether the two zero blocks of the end-of-archive marker follow the last member at `end`."""
        while self._start + len(self._piece) < end + END_MARKER:
            more = self._stream.read(READ_PIECE)
            if not more:
                break
            self._piece += more
        first = self._start - len(self._previous)
        if end < first:
            return False
        held = self._previous + self._piece
        return held[end - first:end - first + END_MARKER] == bytes(END_MARKER)


@dataclass
class Extracted:
    """What an extraction wrote and what it refused (each with the member's name and why)."""

    folder: Path
    files: int = 0
    directories: int = 0
    links: int = 0
    content_bytes: int = 0
    refused: list[str] = field(default_factory=list)
    kept_previous: Path | None = None


def extract_vault(stream: ReadableStream, folder: Path, reporter: Reporter | None = None) -> Extracted:
    """Extract the tar read from `stream` into `folder`, which must not exist yet (it is created 0700)."""
    reporter = reporter or Reporter()
    if os.path.lexists(folder):
        raise UsageError(f"{folder} already exists.", hint="Choose a new folder, or restore in place.")
    try:
        folder.mkdir(mode=0o700, parents=False)
    except OSError as exc:
        raise from_os_error("creating", str(folder), exc) from exc
    done = Extracted(folder)
    root = str(folder.resolve())

    def extract(tar: tarfile.TarFile, safe: tarfile.TarInfo) -> None:
        tar.extract(safe, root, set_attrs=True, filter="fully_trusted")
        reporter.advance(safe.size if safe.isreg() else 0)

    try:
        _walk_checked(stream, root, done, reporter, extract)
    except tarfile.ReadError as exc:
        raise IntegrityError(f"The vault's tar stream is damaged: {exc}.",
                             hint="Verify the backup; an intact backup always holds a whole tar.") from exc
    except OSError as exc:
        raise from_os_error("writing", str(folder), exc) from exc
    return done


def checked_member(member: tarfile.TarInfo, root: str) -> tuple[tarfile.TarInfo | None, str]:
    """The member as it may be extracted under `root`, or None and why it is refused (the one rule of every
    vault tar: extraction here, and a tar imported as a vault backup)."""
    problem = _refusal(member)
    if problem is not None:
        return None, problem
    try:
        return tarfile.data_filter(member, root), ""
    except tarfile.FilterError as exc:
        return None, str(exc)


def check_tar(stream: ReadableStream, reporter: Reporter | None = None) -> Extracted:
    """Read a vault tar to its end, extracting nothing: what extraction would write and refuse.

    A damaged or cut-short tar raises as extraction does; `folder` in the answer is a stand-in root."""
    reporter = reporter or Reporter()
    root = os.path.realpath(os.path.join(os.sep, "vault-check-root"))
    done = Extracted(Path(root))
    try:
        _walk_checked(stream, root, done, reporter, lambda tar, safe: None)
    except tarfile.ReadError as exc:
        raise IntegrityError(f"The tar is damaged: {exc}.",
                             hint="Make the tar again from the folder; nothing was stored.") from exc
    return done


def _walk_checked(stream: ReadableStream, root: str, done: Extracted, reporter: Reporter,
                  take: Callable[[tarfile.TarFile, tarfile.TarInfo], None]) -> None:
    """Read the tar to its end marker: each member checked under `root` (refusals noted in `done`), each safe one
    handed to `take` and counted; a damaged or cut-short tar raises tarfile.ReadError."""
    source = _Tail(stream)
    with tarfile.open(fileobj=source, mode="r|", encoding="utf-8",  # type: ignore[call-overload]
                      errors="surrogateescape", copybufsize=READ_PIECE) as tar:
        for member in tar:
            reporter.check()
            safe, problem = checked_member(member, root)
            if safe is None:
                done.refused.append(f"{member.name}: {problem}")
                continue
            take(tar, safe)
            _count(done, safe)
        if not source.ends_whole(tar.offset):
            raise tarfile.ReadError("it ends before its end-of-archive marker (cut short)")


def _refusal(member: tarfile.TarInfo) -> str | None:
    """Why a member is refused before the data filter looks at it: absolute names, which it would make relative."""
    if member.name.startswith(("/", "\\")) or (len(member.name) > 1 and member.name[1] == ":"):
        return "an absolute path, which would be written outside the folder"
    return None


def _count(done: Extracted, member: tarfile.TarInfo) -> None:
    if member.isreg():
        done.files += 1
        done.content_bytes += member.size
    elif member.isdir():
        done.directories += 1
    elif member.issym() or member.islnk():
        done.links += 1


def restore_in_place(stream: ReadableStream, folder: Path, reporter: Reporter | None = None,
                     now: datetime | None = None, proven: Callable[[], None] | None = None) -> Extracted:
    """Replace `folder`'s contents with the tar's, keeping the previous folder as `<folder>.pre_restore_<time>`.

    The new contents are extracted beside it first; if that fails, or `proven` (called once the tar is
    extracted: e.g. the backup's end checks) raises, the new folder is removed and the original is
    untouched. Only then two renames swap them.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    building = folder.with_name(f"{folder.name}.restoring_{stamp}")
    kept = folder.with_name(f"{folder.name}.pre_restore_{stamp}")
    if not folder.is_dir() or folder.is_symlink():
        raise UsageError(f"{folder} is not a folder to restore into.", hint="Restore into a new folder instead.")
    if os.path.lexists(kept):
        raise UsageError(f"{kept} already exists.", hint="Wait a second and try again, or move it away.")
    try:
        done = extract_vault(stream, building, reporter)
        if proven is not None:
            proven()
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    try:
        mode = folder.stat().st_mode & 0o7777
        os.chmod(building, mode)
        os.rename(folder, kept)
        os.rename(building, folder)
    except OSError as exc:
        raise from_os_error("swapping in the restored folder at", str(folder), exc) from exc
    done.folder, done.kept_previous = folder, kept
    return done
