"""Plain data describing a configured storage target (its secrets live in the keyring, not here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recovery_console.errors import UsageError

TARGET_KINDS = ("local", "s3", "smb", "sftp")
SFTP_DEFAULT_PORT = 22
SMB_DEFAULT_PORT = 445
SMB_DEFAULT_DOMAIN = "WORKGROUP"


@dataclass(frozen=True)
class TargetConfig:
    """A named place backups are kept; `options` holds the kind's non-secret settings."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    quota: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetConfig:
        return cls(name=data["name"], kind=data["kind"], options=dict(data.get("options", {})), quota=data.get("quota"))


def check_bucket_name(bucket: str) -> str:
    """The bare bucket name: not empty, no 's3://' and no '/' (a folder inside it is the prefix)."""
    name = bucket.strip()
    if not name or "/" in name or name.lower().startswith("s3:"):
        raise UsageError(f"'{bucket}' is not a bucket name.",
                         hint="Give the bare bucket name, without s3:// or '/' (a folder inside it is the prefix).")
    return name
