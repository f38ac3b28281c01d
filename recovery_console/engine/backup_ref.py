"""What a command acts on: a backup found in the catalog on its target, or a backup file on this machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.container.streams import SIDECAR_SUFFIX, parse_sidecar
from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import NotFoundError, from_os_error
from recovery_console.models.backup import BackupRecord


@dataclass(frozen=True)
class BackupRef:
    """A backup to act on: a catalog record on its target, or a file on this machine."""

    location: str
    record: BackupRecord | None = None
    storage: Storage | None = None
    path: Path | None = None

    def open(self) -> ReadableFile:
        if self.path is not None:
            try:
                return open(self.path, "rb")
            except OSError as exc:
                raise from_os_error("opening", str(self.path), exc) from exc
        assert self.storage is not None and self.record is not None
        return self.storage.open_read(self.record.key)

    @property
    def is_local(self) -> bool:
        """A file on this machine (directly or on a local-folder target): opening it costs nothing."""
        return self.path is not None or (self.storage is not None and self.storage.kind == "local")

    @property
    def size(self) -> int:
        if self.path is not None:
            return self.path.stat().st_size
        assert self.record is not None
        return self.record.size

    def sidecar_sha256(self) -> str | None:
        """The ciphertext hash recorded beside the backup, if there is a sidecar."""
        try:
            if self.path is not None:
                raw = self.path.with_name(self.path.name + SIDECAR_SUFFIX).read_bytes()
            else:
                assert self.storage is not None and self.record is not None
                raw = self.storage.get_bytes(self.record.key + SIDECAR_SUFFIX)
        except (FileNotFoundError, NotFoundError):
            return None
        except OSError as exc:
            raise from_os_error("reading the sidecar of", self.location, exc) from exc
        return parse_sidecar(raw)

    def local_file(self) -> Path | None:
        """The file on this machine holding the backup (a plain path, or a local-folder target's object)."""
        if self.path is not None:
            return self.path
        if self.storage is not None and self.record is not None and self.storage.kind == "local":
            return Path(self.storage.location(self.record.key))
        return None
