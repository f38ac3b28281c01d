"""Plain data describing a configured storage target (its secrets live in the keyring, not here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recovery_console.models import json_fields

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
        """The record as targets.json holds it; a missing or mistyped field raises ValueError naming it."""
        return cls(name=json_fields.text(data, "name"), kind=json_fields.text(data, "kind"),
                   options=json_fields.mapping(data, "options"), quota=json_fields.optional_count(data, "quota"))
