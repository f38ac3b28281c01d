"""Plain data describing a configured storage target (its secrets live in the keyring, not here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recovery_console.errors import UsageError
from recovery_console.models import json_fields

TARGET_KINDS = ("local", "s3", "smb", "sftp")
SFTP_DEFAULT_PORT = 22
SMB_DEFAULT_PORT = 445
SMB_DEFAULT_DOMAIN = "WORKGROUP"


# Each kind's options as targets.json holds them: name -> (type, required). Checked on load, so a
# hand-edited file with a wrong shape is refused with its name instead of crashing a command later.
OPTION_TYPES: dict[str, dict[str, tuple[type, bool]]] = {
    "local": {"path": (str, True)},
    "s3": {"bucket": (str, True), "endpoint_url": (str, False), "region": (str, False), "prefix": (str, False),
           "use_tls": (bool, False), "verify_tls": (bool, False), "kms_key_id": (str, False),
           "addressing_style": (str, False), "access_key_id": (str, False)},
    "smb": {"host": (str, True), "share": (str, True), "username": (str, True), "port": (int, False),
            "domain": (str, False), "directory": (str, False)},
    "sftp": {"host": (str, True), "username": (str, True), "directory": (str, True), "port": (int, False),
             "auth": (str, False), "host_key_fingerprint": (str, False), "host_key_type": (str, False)},
}


def _check_options(kind: str, options: dict[str, Any]) -> None:
    for key, (kind_type, required) in OPTION_TYPES.get(kind, {}).items():
        value = options.get(key)
        if value is None:
            if required:
                raise ValueError(f"the option '{key}' of a {kind} target is missing")
        elif not isinstance(value, kind_type) or (kind_type is int and isinstance(value, bool)):
            raise ValueError(f"the option '{key}' must be {'a number' if kind_type is int else kind_type.__name__}")


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
        kind, options = json_fields.text(data, "kind"), json_fields.mapping(data, "options")
        _check_options(kind, options)
        return cls(name=json_fields.text(data, "name"), kind=kind, options=options,
                   quota=json_fields.optional_count(data, "quota"))


def check_bucket_name(bucket: str) -> str:
    """The bare bucket name: not empty, no 's3://' and no '/' (a folder inside it is the prefix)."""
    name = bucket.strip()
    if not name or "/" in name or name.lower().startswith("s3:"):
        raise UsageError(f"'{bucket}' is not a bucket name.",
                         hint="Give the bare bucket name, without s3:// or '/' (a folder inside it is the prefix).")
    return name
