"""Checks on what the console writes: a local file the user names (decrypt -o, backup download -o),
the room a new backup takes on its target, and the copies it sends there.

Only a new file or an existing regular file is ever written, and never one of the files being
read: `--force` replaces a regular file, not a device, FIFO, socket, folder or symbolic link
(as root, `-o /dev/null --force` would otherwise replace the system's /dev/null).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from recovery_console.engine.container.streams import SIDECAR_SUFFIX, HashingReader, sidecar_text
from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.named_store import usable_text
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import IntegrityError, QuotaExceededError, UsageError, from_os_error

TEMP_NAME_EXTRA = 16  # atomic_output writes ".<name>.<random 8>.part" beside the output first
DEFAULT_NAME_MAX = 255
COPY_BLOCK = 1 << 20


def check_output(out: Path, inputs: Iterable[Path | None] = ()) -> None:
    """Refuse an output that is not a new or regular file, whose name is too long, or that is an input."""
    usable_text(str(out), "The output path")  # the audit log records it as UTF-8
    _check_name_length(out)
    try:
        info = os.lstat(out)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_refusal(out, exc) from exc
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"{out} is a symbolic link; the console does not write through or replace links.",
                         hint="Name the file itself, or a new file; nothing was written.")
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket, not a regular file"
        raise UsageError(f"{out} is {what}; the output must be a new or regular file, even when replacing.",
                         hint="Name a regular file; to stream the output, write it to a file first.")
    for source in inputs:
        if source is not None and _same_file(out, source):
            raise UsageError(f"{out} is the file being read ({source}); writing it would destroy it.",
                             hint="Choose another output path; nothing was written.")


def is_folder(path: Path) -> bool:
    """Whether `path` is an existing folder; False (not an error) for a name the system cannot even look up."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _check_name_length(out: Path) -> None:
    try:
        limit = os.pathconf(out.parent if str(out.parent) else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = DEFAULT_NAME_MAX
    length = len(os.fsencode(out.name))
    if length + TEMP_NAME_EXTRA > limit:
        raise UsageError(f"The output file name is too long ({length} bytes; this file system allows "
                         f"{limit - TEMP_NAME_EXTRA} here): {out.name[:60]}…",
                         hint="Give -o a shorter file name; nothing was written.")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _os_refusal(out: Path, exc: OSError) -> Exception:
    if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP):
        return UsageError(f"{out} cannot be an output file: {exc.strerror}.", hint="Choose another output path.")
    return from_os_error("checking", str(out), exc)


STORED_FLOOR = 1 << 20  # room asked for up front when the stored size cannot be known before compressing


def stored_size_estimate(source_size: int | None, compression: str) -> int:
    """The room to ask a target for before storing a source of `source_size` bytes.

    Stored as it is ("none"), the backup is the source plus a little framing. Compressed, its size
    is unknown until the end (186 KB for a 100 MB uncompressed dump, about the source's for one
    pg_dump already compressed), so only a floor is asked for; a disk that fills up on the way still
    fails cleanly (exit 9, nothing partial kept).
    """
    if source_size is None:
        return 0
    return source_size if compression == "none" else min(source_size, STORED_FLOOR)


def copy_checked(open_source: Callable[[], ReadableFile], location: str, out: Path, overwrite: bool,
                 expected: tuple[str | None, str], reporter: Reporter, *,
                 claims: RuntimeDir | None = None) -> HashingReader:
    """Copy a stored backup to `out`, kept only if not empty and matching `expected` (hash, "sidecar" or "catalog").

    With `claims`, the partial copy is claimed in the runtime folder, so the next start removes it after a kill.
    """
    sha256, against = expected
    with atomic_output(out, overwrite, claims=claims, large=True) as sink, open_source() as stream:
        reader = HashingReader(stream)
        buf = bytearray(COPY_BLOCK)
        while n := reader.readinto(memoryview(buf)):
            sink.write(memoryview(buf)[:n])
            reporter.advance(n)
        if reader.size == 0:
            raise IntegrityError(f"{location} is empty (0 bytes): it is not a backup; nothing was kept.")
        if sha256 is not None and reader.sha256 != sha256:
            what = "the sidecar" if against == "sidecar" else "the SHA-256 the catalog recorded"
            raise IntegrityError(
                f"The downloaded copy's SHA-256 ({reader.sha256}) does not match {what} ({sha256}).",
                hint="The transfer or the stored object is damaged; nothing was kept. Try again.",
            )
    return reader


def check_quota_after(storage: Storage, size: int) -> None:
    """Before a written backup (or a set's manifest) of `size` bytes is committed: refuse it if it takes the target
    over its quota, which counts its backups and its sets' files (`Storage.quota_used`).

    The up-front check could only estimate a compressed backup's size; this one knows it.
    """
    if storage.quota is None:
        return
    used = storage.quota_used()
    if used + size > storage.quota:
        raise QuotaExceededError(
            f"Target '{storage.name}' would exceed its quota: {used:,} of {storage.quota:,} bytes used, and the "
            f"backup takes {size:,}. Nothing was kept.",
            hint="Delete old backups from this target or raise its quota.",
        )


def upload_checked(open_source: Callable[[], ReadableFile], storage: Storage, key: str, expected_sha256: str | None,
                   reporter: Reporter) -> str:
    """Send a verified file to `key`, kept only if the bytes sent hash to what was verified; their SHA-256."""
    with storage.put(key) as upload, open_source() as stream:
        reader = HashingReader(stream)
        buf = bytearray(COPY_BLOCK)
        while n := reader.readinto(memoryview(buf)):
            upload.write(memoryview(buf)[:n])
            reporter.advance(n)
        if reader.sha256 != expected_sha256:
            raise IntegrityError(f"The file changed while it was being uploaded to {storage.location(key)}; "
                                 "nothing was kept.", hint="Upload it again once nothing is writing to it.")
    return reader.sha256


def write_sidecar(storage: Storage, key: str, sha256: str) -> None:
    """The `.sha256` sidecar beside a stored backup; the backup goes too if its sidecar cannot be written."""
    try:
        storage.put_bytes(key + SIDECAR_SUFFIX, sidecar_text(sha256, key.rsplit("/", 1)[-1]))
    except BaseException:
        storage.delete(key)
        raise
