"""A folder on a local or mounted disk as a storage target; writes go to a hidden temp name, then rename."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.storage.base import TEMP_PREFIX, ObjectInfo, Storage, Upload, folder_not_empty
from recovery_console.engine.storage.write_behind import WriteBehind
from recovery_console.errors import NotFoundError, StorageError, UsageError, from_os_error
from recovery_console.models.target import TargetConfig

ABANDONED_AFTER = 60.0  # seconds


class _LocalUpload(Upload):
    """A write under a hidden temp name, locked while it is written, so a listing can tell it from one that a killed
    process left behind (which it removes)."""

    def __init__(self, final: Path) -> None:
        self.final = final
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=final.parent)
            fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh file nobody else knows yet: granted at once
        except OSError as exc:
            raise from_os_error("creating a file in", str(final.parent), exc) from exc
        self.tmp = Path(tmp)
        self.file = os.fdopen(fd, "wb")
        self._behind = WriteBehind(fd)

    def write(self, data: bytes | memoryview) -> None:
        try:
            self.file.write(data)
            self._behind.wrote(len(data))
        except OSError as exc:
            raise from_os_error("writing", str(self.final), exc) from exc

    def commit(self) -> None:
        try:
            self.file.flush()
            failed = self._behind.stop()
            if failed is not None:
                raise failed
            os.fsync(self.file.fileno())
            os.fchmod(self.file.fileno(), 0o644)
            os.replace(self.tmp, self.final)  # renamed while still locked: no listing takes it for abandoned
            self.file.close()
        except OSError as exc:
            self.abort()
            raise from_os_error("finishing", str(self.final), exc) from exc

    def abort(self) -> None:
        self._behind.stop()
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class _RangeReader:
    """A file limited to [start, end), so ranged reads behave like the remote backends'."""

    def __init__(self, file: io.BufferedReader, start: int, end: int | None) -> None:
        self._file = file
        self._remaining = None if end is None else max(0, end - start)
        if start:
            file.seek(start)

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf)
        if self._remaining is not None:
            view = view[: self._remaining]
        n = self._file.readinto(view) or 0
        if self._remaining is not None:
            self._remaining -= n
        return n

    def read(self, size: int = -1) -> bytes:
        if self._remaining is not None:
            size = self._remaining if size < 0 else min(size, self._remaining)
        data = self._file.read(size)
        if self._remaining is not None:
            self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalStorage(Storage):
    """Backups in a folder: `root/backups/*.enc` with their `.sha256` sidecars."""

    kind = "local"

    def __init__(self, name: str, root: Path, quota: int | None = None) -> None:
        super().__init__(name, quota)
        self.root = Path(root).expanduser().absolute()

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise UsageError(f"'{key}' is not a valid object key.")
        return self.root.joinpath(*parts)

    def open_upload(self, key: str) -> Upload:
        return _LocalUpload(self._path(key))

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadableFile:
        path = self._path(key)
        try:
            return _RangeReader(open(path, "rb"), start, end)
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist.",
                                hint="Refresh the backup list; it may have been removed.") from None
        except OSError as exc:
            raise from_os_error("opening", str(path), exc) from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not self.root.is_dir():
            raise StorageError(f"The target folder {self.root} does not exist or is not reachable.",
                               hint="Mount the disk or fix the target's path.")
        yield from self._walk(folder, prefix.rstrip("/"))

    def _walk(self, folder: Path, key_prefix: str) -> Iterator[ObjectInfo]:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise from_os_error("listing", str(folder), exc) from exc
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX):
                _remove_if_abandoned(Path(entry.path))
            if entry.name.startswith("."):
                continue
            key = f"{key_prefix}/{entry.name}" if key_prefix else entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), key)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist.") from None
        except OSError as exc:
            raise from_os_error("reading", str(path), exc) from exc
        return ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist.") from None
        except OSError as exc:
            raise from_os_error("deleting", str(path), exc) from exc

    def remove_empty_folder(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        try:
            path.rmdir()
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise folder_not_empty(str(path), os.listdir(path)) from None
            raise from_os_error("removing the folder", str(path), exc) from exc

    def location(self, key: str) -> str:
        return str(self._path(key))

    def close(self) -> None:
        """Nothing to end: every call opens and closes its own files."""

    def free_space(self) -> int | None:
        probe = self.root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            return shutil.disk_usage(probe).free
        except OSError:
            return None


def _remove_if_abandoned(path: Path) -> None:
    """Remove a temp file whose writer is gone (its lock is free: killed, or a crash); a live write keeps its own.

    A file younger than a minute is left alone: its writer may not have taken the lock yet."""
    try:
        if time.time() - path.lstat().st_mtime < ABANDONED_AFTER:
            return
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        os.close(fd)


def from_config(config: TargetConfig, secrets: Callable[[str], str | None]) -> LocalStorage:
    """A local folder needs no secrets."""
    return LocalStorage(config.name, Path(config.options["path"]), quota=config.quota)
