"""Plain data for a deployment profile: how its database is reached and where its backups go.

The connection mode must be declared before any backup or restore: **direct** (with an explicit
acknowledgement that the URL is not a pooler) or **pool** (with a separate direct URL that only
pg_dump/pg_restore use). Passwords are not stored here; they live in the OS keyring, and
`stored_secrets` only names which ones exist, and `instance_secrets` names and dates the instance
secrets of a rotation (docs/SECRETS.md section 6).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from recovery_console.errors import UsageError
from recovery_console.models import json_fields
from recovery_console.models.policy import Policy

LEGACY_SECRET_ENTRY = "instance_secret"
"""The keyring entry of a profile's one instance secret before rotation (keyring_store.INSTANCE_SECRET)."""
LEGACY_SECRET_LABEL = "original key"


@dataclass(frozen=True)
class InstanceSecret:
    """One instance secret of a profile: its keyring entry, the label people see, and when it was added."""

    entry: str
    label: str
    created: str | None = None
    """UTC ISO time it was added; None for the one secret a profile had before rotation."""

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "label": self.label, "created": self.created}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceSecret:
        return cls(entry=json_fields.text(data, "entry"), label=json_fields.text(data, "label"),
                   created=json_fields.optional_text(data, "created"))


class ConnectionMode(StrEnum):
    UNDECLARED = "undeclared"
    DIRECT = "direct"
    POOL = "pool"


class ModeNotDeclaredError(UsageError):
    """Backup and restore stay disabled until the profile's connection mode is declared and saved."""


@dataclass(frozen=True)
class Profile:
    """One deployment: its database URL, connection mode, backup target and tool folders."""

    name: str
    database_url: str
    mode: ConnectionMode = ConnectionMode.UNDECLARED
    direct_acknowledged: bool = False
    direct_url: str | None = None
    target: str | None = None
    tool_dirs: list[str] = field(default_factory=list)
    stored_secrets: tuple[str, ...] = ()
    policy: Policy | None = None
    """When and how its backups run by themselves (models/policy.py); None: only by hand."""
    instance_secrets: tuple[InstanceSecret, ...] = ()
    """The rotation's secrets, newest first (the newest makes new backups); empty before any rotation."""
    members: tuple[ProfileMember, ...] = ()
    """Further members of its recovery set (#18); none: a backup is one database backup, as always."""

    @property
    def secrets_newest_first(self) -> tuple[InstanceSecret, ...]:
        """Every instance secret the profile has, newest first: the rotation's, then a pre-rotation one it keeps
        (one whose entry left `stored_secrets`, forgotten from the keyring, is not listed)."""
        listed = tuple(s for s in self.instance_secrets if s.entry in self.stored_secrets)
        if LEGACY_SECRET_ENTRY in self.stored_secrets and all(s.entry != LEGACY_SECRET_ENTRY for s in listed):
            listed += (InstanceSecret(LEGACY_SECRET_ENTRY, LEGACY_SECRET_LABEL),)
        return listed

    def with_mode(self, mode: ConnectionMode, *, acknowledge_direct: bool = False,
                  direct_url: str | None = None) -> Profile:
        """The profile under a newly declared mode; switching clears what belonged to the old one."""
        if mode is ConnectionMode.DIRECT:
            if not acknowledge_direct:
                raise UsageError(
                    "Declaring a direct connection needs your acknowledgement that the database URL does not "
                    "point at a connection pooler (PgBouncer, RDS Proxy, …).",
                    hint="pg_dump and pg_restore break in subtle ways through transaction pooling. If the URL is "
                         "direct, confirm it; if not, declare pool mode with a separate direct URL.",
                )
            return replace(self, mode=mode, direct_acknowledged=True, direct_url=None)
        if mode is ConnectionMode.POOL:
            if not direct_url:
                raise UsageError("Pool mode needs a direct URL that pg_dump and pg_restore can use.",
                                 hint="Give the URL of the PostgreSQL server behind the pooler.")
            if direct_url == self.database_url:
                raise UsageError("The direct URL is the same as the pooled URL.",
                                 hint="Give the address of the PostgreSQL server itself, not the pooler.")
            return replace(self, mode=mode, direct_acknowledged=False, direct_url=direct_url)
        return replace(self, mode=ConnectionMode.UNDECLARED, direct_acknowledged=False, direct_url=None)

    @property
    def declared(self) -> bool:
        return (self.mode is ConnectionMode.DIRECT and self.direct_acknowledged) or (
            self.mode is ConnectionMode.POOL and bool(self.direct_url))

    def dump_url(self) -> str:
        """The URL pg_dump/pg_restore use: never the pooled one."""
        if not self.declared:
            raise ModeNotDeclaredError(
                f"Profile '{self.name}' has no declared connection mode, so backup and restore are disabled.",
                hint=f"Edit profile '{self.name}' and say how it connects: straight to PostgreSQL, or through a "
                     "pooler with the server's direct URL beside it.",
                cli_hint=f"Run `recovery-console profile set-mode {self.name} direct --not-a-pooler` or "
                         f"`… set-mode {self.name} pool --direct-url URL`.",
            )
        return self.direct_url if self.mode is ConnectionMode.POOL else self.database_url  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        data["stored_secrets"] = list(self.stored_secrets)
        data.pop("policy")
        data.pop("instance_secrets")
        if self.instance_secrets:  # absent until a rotation, so an older release's file is written as it was
            data["instance_secrets"] = [secret.to_dict() for secret in self.instance_secrets]
        if self.policy is not None:  # absent when unset, so the file stays as an older release wrote it
            data["policy"] = self.policy.to_dict()
        data.pop("members")
        if self.members:  # absent when none, likewise
            data["members"] = [member.to_dict() for member in self.members]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The record as profiles.json holds it; a missing or mistyped field raises ValueError naming it."""
        mode = json_fields.optional_text(data, "mode") or ConnectionMode.UNDECLARED.value
        if mode not in tuple(ConnectionMode):
            raise ValueError(f"'mode' must be one of {', '.join(ConnectionMode)}, not {mode!r}")
        return cls(name=json_fields.text(data, "name"), database_url=json_fields.text(data, "database_url"),
                   mode=ConnectionMode(mode), direct_acknowledged=json_fields.flag(data, "direct_acknowledged"),
                   direct_url=json_fields.optional_text(data, "direct_url"),
                   target=json_fields.optional_text(data, "target"), tool_dirs=json_fields.texts(data, "tool_dirs"),
                   stored_secrets=tuple(json_fields.texts(data, "stored_secrets")),
                   policy=Policy.from_dict(json_fields.mapping(data, "policy")) if data.get("policy") else None,
                   instance_secrets=_instance_secrets(data),
                   members=members_from_list(data.get("members")))

    @property
    def has_members(self) -> bool:
        """Whether a backup of it makes a recovery set (its own database and these members) rather than one backup."""
        return bool(self.members)

    def member_connection(self, member: ProfileMember) -> Profile:
        """A database member as a profile of its own (same target and tools), for its mode and dump URL."""
        if member.kind is not MemberKind.DATABASE or member.database_url is None:
            raise UsageError(f"Member '{member.name}' of profile '{self.name}' is not a database.")
        return Profile(name=f"{self.name}/{member.name}", database_url=member.database_url, mode=member.mode,
                       direct_acknowledged=member.direct_acknowledged, direct_url=member.direct_url,
                       target=self.target, tool_dirs=self.tool_dirs)


def _instance_secrets(data: dict[str, Any]) -> tuple[InstanceSecret, ...]:
    raw = data.get("instance_secrets") or []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ValueError("'instance_secrets' must be a list of objects")
    return tuple(InstanceSecret.from_dict(item) for item in raw)


PRIMARY_MEMBER = "main"
"""The name a profile's own database has among the members of its recovery set."""


class MemberKind(StrEnum):
    DATABASE = "database"
    FOLDER = "folder"


@dataclass(frozen=True)
class ProfileMember:
    """One further member of a profile's recovery set: a database (its URL and connection mode, as a profile has)
    or a folder (a file vault, streamed as a tar). Passwords are in the keyring, under the profile's scope."""

    name: str
    kind: MemberKind
    database_url: str | None = None
    mode: ConnectionMode = ConnectionMode.UNDECLARED
    direct_acknowledged: bool = False
    direct_url: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"], data["mode"] = self.kind.value, self.mode.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProfileMember:
        kind = json_fields.text(data, "kind")
        if kind not in tuple(MemberKind):
            raise ValueError(f"a member's 'kind' must be one of {', '.join(MemberKind)}, not {kind!r}")
        mode = json_fields.optional_text(data, "mode") or ConnectionMode.UNDECLARED.value
        if mode not in tuple(ConnectionMode):
            raise ValueError(f"a member's 'mode' must be one of {', '.join(ConnectionMode)}, not {mode!r}")
        return cls(name=json_fields.text(data, "name"), kind=MemberKind(kind),
                   database_url=json_fields.optional_text(data, "database_url"), mode=ConnectionMode(mode),
                   direct_acknowledged=json_fields.flag(data, "direct_acknowledged"),
                   direct_url=json_fields.optional_text(data, "direct_url"),
                   path=json_fields.optional_text(data, "path"))


def members_from_list(raw: object) -> tuple[ProfileMember, ...]:
    """profiles.json's `members` (absent: none); a record that is not a list of objects raises ValueError."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ValueError("'members' must be a list of objects")
    return tuple(ProfileMember.from_dict(item) for item in raw)
