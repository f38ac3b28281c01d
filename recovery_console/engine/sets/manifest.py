"""A recovery set's manifest: which members the set holds, each pinned by its size and SHA-256, sealed in the
container format as a small file of its own (docs/FORMAT.md 19)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.io_protocols import ReadIntoStream
from recovery_console.engine.sets.set_naming import MEMBER_KINDS, member_file
from recovery_console.errors import IntegrityError
from recovery_console.models.backup import BackupMetadata, _strict_json

FORMAT_NAME = "recovery-console set manifest"
FORMAT_VERSION = 1
CONSISTENCY = "separate-snapshots"
CONSISTENCY_NOTE = ("Each member is its own snapshot, taken between its started_at and finished_at: two databases "
                    "of one set are not one transaction-consistent snapshot, even on one server.")
MANIFEST_FLAG = "set_manifest"
"""The extra field of the manifest file's metadata record that says it holds a manifest (value 1)."""
MEMBER_FIELDS = ("set_id", "set_member", "set_member_kind")
"""Extra fields of each member file's metadata record: its set, its name and its kind."""
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def stamp_ms(moment: datetime | None = None) -> str:
    """UTC to the millisecond, the manifest's dump times: 2026-12-07T08:40:01.123Z."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ManifestMember:
    """One member as the manifest pins it: its file, the file's size and hash, the archive's, and when it was made."""

    index: int
    kind: str
    name: str
    key: str
    backup_id: str
    size: int
    sha256: str
    archive_length: int
    archive_sha256: str
    started_at: str
    finished_at: str
    database: str | None = None
    server_version: str | None = None
    folder: str | None = None

    @property
    def taken_from(self) -> str:
        """Its database or folder, for a listing; a folder imported from a tar file has none the set knows."""
        if self.kind == "database":
            return self.database or "(its database unknown)"
        return self.folder or "(imported from a tar file; its folder unknown)"


@dataclass(frozen=True)
class SetManifest:
    """The whole set: its id and times, who made it, and every member in order."""

    set_id: str
    created_at: str
    finished_at: str
    app_version: str
    mode: str
    profile: str
    description: str = ""
    created_by: str | None = None
    members: tuple[ManifestMember, ...] = ()
    consistency: str = CONSISTENCY
    consistency_note: str = CONSISTENCY_NOTE
    extra: dict[str, Any] = field(default_factory=dict)

    def member(self, name: str) -> ManifestMember:
        for member in self.members:
            if member.name == name:
                return member
        raise KeyError(name)

    def to_json(self) -> bytes:
        """Sorted keys, compact separators, UTF-8 as is: the same canonical form as a backup's metadata."""
        data: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **self.extra}
        core = asdict(self)
        core.pop("extra")
        data.update(core)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> SetManifest:
        """Parse and check a manifest; anything malformed is an IntegrityError naming what is wrong."""
        try:
            data = _strict_json(raw)
        except IntegrityError as exc:
            raise IntegrityError(f"The set's manifest is not valid: {exc.message}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise IntegrityError("The file is a backup, but not a recovery set's manifest.")
        if data.get("version") != FORMAT_VERSION:
            raise IntegrityError(f"The set's manifest has version {data.get('version')!r}; this release reads "
                                 f"version {FORMAT_VERSION}.", hint="Open it with the release that made it, or newer.")
        texts = ("set_id", "created_at", "finished_at", "app_version", "mode", "profile", "description", "consistency",
                 "consistency_note")
        for name in texts:
            _require(data, name, str)
        _require(data, "created_by", (str, type(None)))
        raw_members = _require(data, "members", list)
        members = tuple(_member(item, position) for position, item in enumerate(raw_members, start=1))
        if not members:
            raise IntegrityError("The set's manifest lists no members.")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise IntegrityError("The set's manifest names a member twice.")
        known = set(texts) | {"created_by", "members", "format", "version"}
        return cls(**{name: data[name] for name in texts}, created_by=data["created_by"], members=members,
                   extra={k: v for k, v in data.items() if k not in known})


def _require(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in data:
        raise IntegrityError(f"The set's manifest lacks the field '{name}'.")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise IntegrityError(f"The set's manifest field '{name}' has the wrong type.")
    return value


def _member(item: Any, position: int) -> ManifestMember:
    if not isinstance(item, dict):
        raise IntegrityError(f"Member {position} of the set's manifest is not a JSON object.")
    values: dict[str, Any] = {}
    for name in ("index", "size", "archive_length"):
        values[name] = _require(item, name, int)
        if values[name] < 0:
            raise IntegrityError(f"Member {position} of the set's manifest has a negative {name}.")
    for name in ("kind", "name", "key", "backup_id", "sha256", "archive_sha256", "started_at", "finished_at"):
        values[name] = _require(item, name, str)
    for name in ("database", "server_version", "folder"):
        values[name] = _require(item, name, (str, type(None)))
    if values["index"] != position:
        raise IntegrityError(f"The set's manifest lists member {values['index']} at place {position}.")
    if values["kind"] not in MEMBER_KINDS:
        raise IntegrityError(f"Member {position} of the set's manifest has an unknown kind {values['kind']!r}.")
    if values["key"] != member_file(position, values["kind"]):
        raise IntegrityError(f"Member {position} of the set's manifest names the file {values['key']!r}, "
                             f"not {member_file(position, values['kind'])!r}.")
    if not values["name"]:
        raise IntegrityError(f"Member {position} of the set's manifest has no name.")
    for name in ("sha256", "archive_sha256"):
        if not _HEX64.match(values[name]):
            raise IntegrityError(f"Member {position}'s {name} in the set's manifest is not 64 lowercase hex digits.")
    return ManifestMember(**values)


def manifest_metadata(manifest: SetManifest) -> BackupMetadata:
    """Record 0 of the manifest file: an ordinary backup's metadata, its id the set's, flagged as a manifest."""
    return BackupMetadata(backup_id=manifest.set_id, created_at=manifest.created_at, app_version=manifest.app_version,
                          mode=manifest.mode, description=manifest.description, compression="none", source="file",
                          source_name="recovery set manifest", created_by=manifest.created_by,
                          extra={MANIFEST_FLAG: 1})


@dataclass(frozen=True)
class SealedManifest:
    """The manifest file's bytes, and their SHA-256 for its sidecar."""

    data: bytes
    sha256: str


def seal_manifest(manifest: SetManifest, secret: str, *, iterations: int = fmt.DEFAULT_ITERATIONS,
                  chunk_exponent: int = fmt.DEFAULT_CHUNK_EXPONENT, salt: bytes | None = None) -> SealedManifest:
    """The manifest as a container file (compression none), built in memory: it is small."""
    out = io.BytesIO()
    result = encrypt_stream(io.BytesIO(manifest.to_json()), out, secret, manifest_metadata(manifest),
                            iterations=iterations, chunk_exponent=chunk_exponent, salt=salt)
    return SealedManifest(out.getvalue(), result.encrypted_sha256)


@dataclass(frozen=True)
class OpenedManifest:
    manifest: SetManifest
    metadata: BackupMetadata
    sha256: str
    size: int


def open_manifest(stream: ReadIntoStream, secret: str) -> OpenedManifest:
    """Decrypt and check a manifest file: the whole container proven, then the manifest's own rules."""
    sink = io.BytesIO()
    report = read_stream(stream, secret, sink=sink, require_archive=False)
    if report.metadata.extra.get(MANIFEST_FLAG) != 1:
        raise IntegrityError("The file is a backup, but not a recovery set's manifest.")
    manifest = SetManifest.from_json(sink.getvalue())
    if manifest.set_id != report.metadata.backup_id:
        raise IntegrityError(f"The manifest names set {manifest.set_id}, but its file is sealed as "
                             f"{report.metadata.backup_id}.", hint="The manifest was altered; do not trust this set.")
    assert report.ciphertext_sha256 is not None
    return OpenedManifest(manifest, report.metadata, report.ciphertext_sha256, report.encrypted_size)
