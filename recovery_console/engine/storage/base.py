"""The storage interface every target implements: streamed puts that commit or vanish, ranged gets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Self

from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.errors import QuotaExceededError, StorageError
from recovery_console.formatting import some_of

TEMP_PREFIX = ".rc-part-"
"""An upload's hidden name until it commits; listings never show it."""
STALE_PART_SECONDS = 24 * 3600
"""A part file unchanged this long on an SFTP or SMB target was left by a killed upload (one in progress writes to
it all the time) and is removed by the next listing of its folder; a local target knows by the writer's lock."""


def stale_part(name: str, mtime: float, now: float) -> bool:
    """Whether `name`, last written at `mtime`, is a part file a killed upload left."""
    return name.startswith(TEMP_PREFIX) and now - mtime > STALE_PART_SECONDS


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object as the target reports it; key and size, with its ETag where the target has one and
    its modification time where not, tell whether it is still the same object (catalog._same_object)."""

    key: str
    size: int
    mtime: float
    etag: str | None = None


class Upload(ABC):
    """An object being written: invisible under its key until `commit`, gone after `abort`."""

    @abstractmethod
    def write(self, data: bytes | memoryview) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class _Acknowledged(Upload):
    """An upload whose every write is confirmed when it returns, reported as such."""

    def __init__(self, upload: Upload, acknowledged: Callable[[int], None]) -> None:
        self._upload = upload
        self._acknowledged = acknowledged

    def write(self, data: bytes | memoryview) -> None:
        self._upload.write(data)
        self._acknowledged(memoryview(data).nbytes)

    def commit(self) -> None:
        self._upload.commit()

    def abort(self) -> None:
        self._upload.abort()


NAMES_SHOWN = 3
"""Entries named when a folder is not empty; the rest are counted."""


def folder_not_empty(where: str, names: list[str]) -> StorageError:
    """The error of `remove_empty_folder` for a folder that still holds something, naming what (hidden names too)."""
    return StorageError(f"{where} is not empty: it holds {some_of(sorted(names), NAMES_SHOWN)}.",
                        hint="Move or delete what is in it, if it is not needed, then remove the folder.")


QUOTA_PREFIXES = ("backups/", "sets/")
"""Where the files a target's quota counts live: single backups, and recovery sets (docs/FORMAT.md 19.2)."""


class Storage(ABC):
    """A place backups live. Keys are '/'-separated relative paths such as 'backups/x.enc'.

    A storage connects on first use and keeps its connection for the calls after; `close()` (or
    leaving a `with` block) ends it, and a closed storage reconnects if it is used again.
    """

    kind: str = ""

    def __init__(self, name: str, quota: int | None = None) -> None:
        self.name = name
        self.quota = quota

    @abstractmethod
    def open_upload(self, key: str) -> Upload: ...

    @abstractmethod
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadableFile:
        """A readable stream of bytes [start, end) of the object; close it when done."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Raises NotFoundError when the object is absent."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def remove_empty_folder(self, prefix: str) -> None:
        """Remove the folder `prefix` ('a/b/') if it is empty, as rmdir does; a folder already gone is fine, one
        that still holds anything stays and raises StorageError. A target without folders (S3) does nothing."""

    @abstractmethod
    def location(self, key: str) -> str:
        """Where the object is, in words a user can find it by (a path, an s3:// URL)."""

    @abstractmethod
    def close(self) -> None:
        """End the connection to the target, if one is open; streams still open from it stop working."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def free_space(self) -> int | None:
        """Bytes the medium itself can still take, when the backend can tell."""
        return None

    @contextmanager
    def put(self, key: str) -> Iterator[Upload]:
        """Write an object; it appears under `key` only if the block completes."""
        upload = self.open_upload(key)
        try:
            yield upload
        except BaseException:
            upload.abort()
            raise
        upload.commit()

    @contextmanager
    def put_acknowledged(self, key: str, acknowledged: Callable[[int], None]) -> Iterator[Upload]:
        """`put`, calling `acknowledged(n)` on the writing thread as the target confirms each further n bytes.

        Here a write is confirmed when it returns; a backend that sends ahead (S3's parallel parts)
        overrides this and reports each part once the service has acknowledged it, never before.
        """
        with self.put(key) as upload:
            yield _Acknowledged(upload, acknowledged)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self.put(key) as upload:
            upload.write(data)

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as stream:
            return stream.read()

    def used_bytes(self, prefix: str = "") -> int:
        return sum(info.size for info in self.list(prefix))

    def quota_used(self) -> int:
        """Bytes the quota counts: every file of the backups and of the recovery sets (QUOTA_PREFIXES)."""
        return sum(self.used_bytes(prefix) for prefix in QUOTA_PREFIXES)

    def check_room(self, incoming: int, prefix: str | None = None) -> None:
        """Refuse before writing when the quota or the medium cannot take `incoming` more bytes; the quota counts
        what `quota_used` does, or only what is under `prefix`."""
        if self.quota is not None:
            used = self.quota_used() if prefix is None else self.used_bytes(prefix)
            if used + incoming > self.quota:
                raise QuotaExceededError(
                    f"Target '{self.name}' would exceed its quota: {used:,} of {self.quota:,} bytes used, "
                    f"{incoming:,} more needed.",
                    hint="Delete old backups from this target or raise its quota.",
                )
        free = self.free_space()
        if free is not None and incoming > free:
            raise QuotaExceededError(
                f"Target '{self.name}' has {free:,} bytes free; {incoming:,} are needed.",
                hint="Free space on the target or choose another one.",
            )
