"""What a verify, a decrypt or a download reports back: the verdict and every fact an auditor asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.models.backup import BackupMetadata

if TYPE_CHECKING:
    from recovery_console.engine.container.verify import StreamReport


@dataclass(frozen=True)
class VerifyResult:
    """The verdict and every fact an auditor asks for after a verify."""

    mode: str
    location: str
    encrypted_size: int
    ciphertext_sha256: str | None
    sidecar_sha256: str | None
    metadata: BackupMetadata | None = None
    chunk_count: int | None = None
    archive_length: int | None = None
    archive_sha256: str | None = None
    archive_version: str | None = None
    dumped_from: str | None = None
    dumped_by: str | None = None
    object_counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "metadata"}
        data["metadata"] = self.metadata.as_dict() if self.metadata else None
        return data


@dataclass(frozen=True)
class FileResult:
    """A local file the console wrote (decrypt, download) and its SHA-256."""

    path: Path
    size: int
    sha256: str
    metadata: BackupMetadata | None = None
    checked_against: str | None = None  # download: "sidecar", "catalog" or None (nothing to compare with)


def verify_result(ref: BackupRef, report: StreamReport, sidecar: str | None, mode: str) -> VerifyResult:
    """The result of a verify from the stream's report and the sidecar's hash, if there is one."""
    archive = report.archive
    return VerifyResult(
        mode=mode, location=ref.location, encrypted_size=report.encrypted_size,
        ciphertext_sha256=report.ciphertext_sha256, sidecar_sha256=sidecar, metadata=report.metadata,
        chunk_count=report.chunk_count, archive_length=report.archive_length, archive_sha256=report.archive_sha256,
        archive_version=archive.header.version_str if archive else None,
        dumped_from=archive.header.server_version if archive else None,
        dumped_by=archive.header.dump_version if archive else None,
        object_counts=report.object_counts,
    )
