"""A vault's tar extracted into a new folder, or in place by swap, never writing outside that folder.

Every member is judged by one rule, Python's `tarfile.data_filter` (PEP 706): an absolute name, a `..`
that climbs out, a link whose target leaves the folder, a device node or FIFO is refused with its name,
and nothing is written for it; the other members are extracted, with their modes (without set-id and
group/other write bits) and times to the nanosecond. A plain member (a file or folder whose name has no
`.`, `..` or empty part and does not pass through a link this extraction made) is judged without asking the
disk: only links can make such a name resolve elsewhere, so it is where its name says, and the filter's
two `realpath` walks per member are spent only on the rest. The tar is read forward from any stream
(engine/vault/tar_reader.py). In place, the new contents are built beside the folder first and swapped in
by two renames, the previous folder kept as `<folder>.pre_restore_<time>`: nothing is destroyed before its
replacement is whole.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.runtime_dir import PART_SUFFIX, RuntimeDir
from recovery_console.engine.vault.tar_reader import TarMember, TarReader
from recovery_console.errors import IntegrityError, UsageError, from_os_error

Take = Callable[[TarReader, TarMember, tarfile.TarInfo], "str | None"]
"""Extract one judged member (its content read from the reader); a reason when it is refused after all."""


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


def extract_vault(stream: ReadableStream, folder: Path, reporter: Reporter | None = None, *,
                  named: Path | None = None) -> Extracted:
    """Extract the tar read from `stream` into `folder`, which must not exist yet (it is created 0700).

    `named`: the folder errors name, when `folder` is a temporary one that will be renamed to it."""
    reporter = reporter or Reporter()
    if os.path.lexists(folder):
        raise UsageError(f"{folder} already exists.", hint="Choose a new folder, or restore in place.")
    try:
        folder.mkdir(mode=0o700, parents=False)
    except OSError as exc:
        raise from_os_error("creating", str(folder), exc) from exc
    done = Extracted(folder)
    writer = _Writer(str(folder.resolve()), reporter)
    try:
        _walk_checked(stream, writer.root, done, reporter, writer.take)
        writer.set_folder_times()
    except tarfile.ReadError as exc:
        raise IntegrityError(f"The vault's tar stream is damaged: {exc}.",
                             hint="Verify the backup; an intact backup always holds a whole tar.") from exc
    except OSError as exc:
        raise from_os_error("writing", str(named or folder), exc) from exc
    return done


def checked_member(member: tarfile.TarInfo, root: str,
                   links: set[str] | None = None) -> tuple[tarfile.TarInfo | None, str]:
    """The member as it may be extracted under `root`, or None and why it is refused (the one rule of every
    vault tar: extraction here, and a tar imported as a vault backup). `links`: names extracted as links so far."""
    problem = _refusal(member)
    if problem is not None:
        return None, problem
    if (member.isreg() or member.isdir()) and _plain(member.name) and not _through_link(member.name, links or set()):
        return member, ""  # where its name says: what data_filter would answer, without its realpath walks
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
        _walk_checked(stream, root, done, reporter, lambda reader, member, safe: None)
    except tarfile.ReadError as exc:
        raise IntegrityError(f"The tar is damaged: {exc}.",
                             hint="Make the tar again from the folder; nothing was stored.") from exc
    return done


def _walk_checked(stream: ReadableStream, root: str, done: Extracted, reporter: Reporter, take: Take) -> None:
    """Read the tar to its end marker: each member checked under `root` (refusals noted in `done`), each safe one
    handed to `take` and counted; a damaged or cut-short tar raises tarfile.ReadError."""
    reader = TarReader(stream)
    links: set[str] = set()
    for member in reader:
        reporter.check()
        safe, problem = checked_member(member.info, root, links)
        if safe is not None:
            problem = take(reader, member, safe) or ""
        if safe is None or problem:
            done.refused.append(f"{member.info.name}: {problem}")
            continue
        if safe.issym() or safe.islnk():
            links.add(safe.name)
        _count(done, safe)


def _refusal(member: tarfile.TarInfo) -> str | None:
    """Why a member is refused before the data filter looks at it: an absolute name (the filter would make it
    relative), a NUL byte in a name (no system call takes one)."""
    if member.name.startswith(("/", "\\")) or (len(member.name) > 1 and member.name[1] == ":"):
        return "an absolute path, which would be written outside the folder"
    if "\0" in member.name or "\0" in member.linkname:
        return "a name with a NUL byte, which no file system allows"
    return None


def _plain(name: str) -> bool:
    return bool(name) and all(part not in ("", ".", "..") for part in name.split("/"))


def _through_link(name: str, links: set[str]) -> bool:
    """Whether `name`, or a folder on its way, was extracted as a link."""
    if not links:
        return False
    at = name.find("/")
    while at >= 0:
        if name[:at] in links:
            return True
        at = name.find("/", at + 1)
    return name in links


def _file_mode(mode: int) -> int:
    """data_filter's mode for a file: no set-id or sticky bits, no group/other write, owner read-write, executable
    bits only where the owner's is set (idempotent, so a member the filter already changed keeps its mode)."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


class _Writer:
    """Writes judged members under `root`: files by descriptor (content, mode, times), folders' times set last, as
    writing into a folder moves its time."""

    def __init__(self, root: str, reporter: Reporter) -> None:
        self.root = root
        self._reporter = reporter
        self._folders: set[str] = {""}  # made here (relative names), so their parents need no look
        self._folder_times: list[tuple[str, int]] = []

    def take(self, reader: TarReader, member: TarMember, safe: tarfile.TarInfo) -> str | None:
        path = f"{self.root}/{safe.name}"
        self._parent(safe.name)
        if safe.isreg():
            self._file(reader, path, safe, member)
        elif safe.isdir():
            if safe.name not in self._folders:
                with suppress(FileExistsError):  # as a file or link: tar's rule, the later member's type is not forced
                    os.mkdir(path)
                self._folders.add(safe.name)
            self._folder_times.append((path, member.mtime_ns))
        elif safe.issym():
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(safe.linkname, path)
        elif safe.islnk():
            source = f"{self.root}/{safe.linkname}"
            if not os.path.exists(source):
                return f"a hard link to {safe.linkname!r}, which is not in the tar before it"
            if os.path.lexists(path):
                os.unlink(path)
            os.link(source, path)
            os.chmod(path, _file_mode(safe.mode))
            os.utime(path, ns=(member.mtime_ns, member.mtime_ns))
        return None

    def set_folder_times(self) -> None:
        for path, mtime_ns in reversed(self._folder_times):  # children before parents
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def _parent(self, name: str) -> None:
        parent = name.rpartition("/")[0]
        if parent in self._folders:
            return
        os.makedirs(f"{self.root}/{parent}", exist_ok=True)
        while parent and parent not in self._folders:
            self._folders.add(parent)
            parent = parent.rpartition("/")[0]

    def _file(self, reader: TarReader, path: str, safe: tarfile.TarInfo, member: TarMember) -> None:
        """The file's content through one descriptor; a plain member's last part is never followed as a link."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        fd = os.open(path, flags | (os.O_NOFOLLOW if _plain(safe.name) else 0), 0o600)
        try:
            if member.regions is None:
                for piece in reader.content():
                    self._write(fd, piece)
            else:
                self._write_sparse(fd, reader.content(), member.regions, safe.size)
            os.fchmod(fd, _file_mode(safe.mode))
            os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
        finally:
            os.close(fd)

    def _write(self, fd: int, piece: memoryview) -> None:
        size = len(piece)
        while piece:
            piece = piece[os.write(fd, piece):]
        self._reporter.advance(size)

    def _write_sparse(self, fd: int, pieces: Iterator[memoryview], regions: list[tuple[int, int]], size: int) -> None:
        """A sparse file: each region's bytes at its offset, the holes left unwritten, then the file cut to size."""
        carry = memoryview(b"")
        for offset, length in regions:
            os.lseek(fd, offset, os.SEEK_SET)
            while length:
                if not carry:
                    following = next(pieces, None)
                    if following is None:
                        raise tarfile.ReadError("a sparse file's content ends before its map does (cut short)")
                    carry = following
                part, carry = carry[:length], carry[length:]
                self._write(fd, part)
                length -= len(part)
        os.ftruncate(fd, size)  # the reader checked that the regions hold exactly the content stored


def _count(done: Extracted, member: tarfile.TarInfo) -> None:
    if member.isreg():
        done.files += 1
        done.content_bytes += member.size
    elif member.isdir():
        done.directories += 1
    elif member.issym() or member.islnk():
        done.links += 1


def build_then_rename(folder: Path, claims: RuntimeDir | None, extract: Callable[[Path], Extracted],
                      still_new: Callable[[Path], None]) -> Extracted:
    """`extract` into a hidden `.NAME.extracting-*.part` beside `folder` (claimed in `claims`: after a kill -9 the
    next start removes it), renamed to `folder` once `extract` returned and `still_new` passed; removed if either
    raised. Nothing is ever left under the chosen name half written."""
    building = folder.with_name(f".{folder.name}.extracting-{uuid.uuid4().hex[:8]}{PART_SUFFIX}")
    with claims.claim(building) if claims is not None else nullcontext(building):
        try:
            done = extract(building)
            still_new(folder)
            os.rename(building, folder)
        except OSError as exc:
            shutil.rmtree(building, ignore_errors=True)
            raise from_os_error("extracting into", str(folder), exc) from exc
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    done.folder = folder
    return done


def restore_in_place(stream: ReadableStream, folder: Path, reporter: Reporter | None = None,
                     now: datetime | None = None, proven: Callable[[], None] | None = None,
                     claims: RuntimeDir | None = None) -> Extracted:
    """Replace `folder`'s contents with the tar's, keeping the previous folder as `<folder>.pre_restore_<time>`.

    The new contents are extracted beside it first; if that fails, or `proven` (called once the tar is
    extracted: e.g. the backup's end checks) raises, the new folder is removed and the original is
    untouched. Only then two renames swap them. With `claims`, the folder being built is claimed there: after
    a kill -9 the next start removes it (the original was not touched yet).
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    building = folder.with_name(f".{folder.name}.restoring_{stamp}{PART_SUFFIX}")  # hidden: the sweep's kind of name
    kept = folder.with_name(f"{folder.name}.pre_restore_{stamp}")
    if not folder.is_dir() or folder.is_symlink():
        raise UsageError(f"{folder} is not a folder to restore into.", hint="Restore into a new folder instead.")
    if os.path.lexists(kept):
        raise UsageError(f"{kept} already exists.", hint="Wait a second and try again, or move it away.")
    with claims.claim(building) if claims is not None else nullcontext(building):
        try:
            done = extract_vault(stream, building, reporter)
            if proven is not None:
                proven()
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        try:
            os.chmod(building, folder.stat().st_mode & 0o7777)
            os.rename(folder, kept)
        except OSError as exc:  # the original untouched; the copy goes with its claim (or stays, unclaimed)
            raise from_os_error("swapping in the restored folder at", str(folder), exc) from exc
        try:
            os.rename(building, folder)
        except OSError as exc:
            with suppress(OSError):
                os.rename(kept, folder)  # the original back in its place
            raise from_os_error("swapping in the restored folder at", str(folder), exc) from exc
    done.folder, done.kept_previous = folder, kept
    return done
