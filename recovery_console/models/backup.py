"""Plain data about backups: the encrypted metadata record and the catalog's view of a stored file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from recovery_console.errors import IntegrityError

COMPRESSIONS = ("none", "zstd")
MODES = ("manual", "scheduled")
SOURCES = ("pg_dump", "file")
KIND_DATABASE, KIND_FOLDER = "database", "folder"
REQUIRED_FIELDS = frozenset({"backup_id", "created_at", "app_version", "compression", "chunk_size"})
_OPTIONAL_TEXT = (str, type(None))
_OPTIONAL_INT = (int, type(None))
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "backup_id": str, "created_at": str, "app_version": str, "mode": str, "description": str,
    "database": _OPTIONAL_TEXT, "server_version": _OPTIONAL_TEXT, "pg_dump_version": _OPTIONAL_TEXT,
    "database_size": _OPTIONAL_INT,
    "chunk_size": int, "compression": str, "source": str, "source_name": _OPTIONAL_TEXT, "created_by": _OPTIONAL_TEXT,
}


@dataclass(frozen=True)
class BackupMetadata:
    """What chunk 0 of every backup carries, encrypted: everything an auditor needs without the payload."""

    backup_id: str
    created_at: str
    app_version: str
    mode: str = "manual"
    description: str = ""
    database: str | None = None
    database_size: int | None = None  # bytes, pg_database_size when the backup started; None in older backups
    server_version: str | None = None
    pg_dump_version: str | None = None
    chunk_size: int = 0
    compression: str = "none"
    source: str = "file"
    source_name: str | None = None
    created_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """What the payload is: "database" (a pg_dump archive, every backup before #18) or "folder" (a vault's tar).
        A set's member file says it as `set_member_kind`, so a member file alone is read for what it is."""
        kind = self.extra.get("kind", self.extra.get("set_member_kind"))
        return kind if isinstance(kind, str) else KIND_DATABASE

    def to_json(self) -> bytes:
        data = asdict(self)
        data.update(data.pop("extra"))
        if data["database_size"] is None:  # absent, as before the field existed: unsized backups keep their bytes
            del data["database_size"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> BackupMetadata:
        """Decode chunk 0; unknown fields are kept in `extra` so newer writers stay readable."""
        data = _strict_json(raw)
        if not isinstance(data, dict):
            raise IntegrityError("The backup's metadata chunk is not a JSON object.")
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = REQUIRED_FIELDS - data.keys()
        if missing:
            raise IntegrityError(f"The backup's metadata lacks required fields: {', '.join(sorted(missing))}.")
        for name, expected in _FIELD_TYPES.items():
            if name in data and (not isinstance(data[name], expected) or isinstance(data[name], bool)):
                raise IntegrityError(f"The backup's metadata field '{name}' has the wrong type.")
        if data["compression"] not in COMPRESSIONS:
            raise IntegrityError(f"The backup's metadata names an unknown compression {data['compression']!r}.")
        for name, allowed in (("mode", MODES), ("source", SOURCES)):
            if name in data and data[name] not in allowed:
                raise IntegrityError(f"The backup's metadata names an unknown {name} {data[name]!r}.")
        core = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**core, extra=extra)

    def as_dict(self) -> dict[str, Any]:
        """The metadata as JSON data, exactly as chunk 0 stores it (extra fields inline)."""
        data: dict[str, Any] = json.loads(self.to_json())
        return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise IntegrityError("The backup's metadata chunk names a field twice (duplicate JSON keys).")
    return dict(pairs)


def _not_a_number(word: str) -> Any:
    raise IntegrityError(f"The backup's metadata chunk is not valid JSON: {word} is not a JSON number.")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise IntegrityError(f"The backup's metadata chunk holds a number too large for a double ({text[:20]}).")
    return value


def _strict_json(raw: bytes) -> Any:
    """Record 0 as I-JSON (RFC 7493, docs/FORMAT.md 7): UTF-8, no duplicate keys, no NaN, no lone surrogates."""
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys,
                          parse_constant=_not_a_number, parse_float=_finite)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate escape cannot be encoded
    except UnicodeEncodeError:
        raise IntegrityError("The backup's metadata chunk holds an unpaired surrogate escape (\\ud800-\\udfff), "
                             "which is not text.") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IntegrityError("The backup's metadata chunk is not valid JSON.", detail=str(exc)) from None
    return data


@dataclass(frozen=True)
class BackupRecord:
    """A backup as the catalog knows it: where it is, what its name says, and what was last proven."""

    short_id: str
    target: str
    key: str
    size: int
    mtime: float
    created: str | None = None
    app_version: str | None = None
    mode: str | None = None
    metadata: BackupMetadata | None = None
    sha256: str | None = None
    verified_at: str | None = None
    verify_result: str | None = None
    verify_detail: str | None = None
    verify_changed: bool = False
    """The file changed on its target since the verify that gave `verify_result`."""

    @property
    def backup_id(self) -> str:
        return self.metadata.backup_id if self.metadata else self.short_id

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metadata"] = self.metadata.as_dict() if self.metadata else None
        data["backup_id"] = self.backup_id
        return data
