"""Where a recovery set's files live on a target: one folder per set, a member file per member, the manifest last."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from recovery_console.engine.container.naming import parse_created_at
from recovery_console.engine.container.streams import SIDECAR_SUFFIX

SET_PREFIX = "sets/"
MANIFEST_NAME = "manifest.enc"
MEMBER_KINDS = ("database", "folder")
_FOLDER = re.compile(
    r"^rc_set_(?P<stamp>\d{8}-\d{2}-\d{2}-\d{2})-(?P<version>[0-9A-Za-z.+_]+)-"
    r"(?P<mode>manual|scheduled)-(?P<short>[0-9a-f]{8})\Z"
)
_MEMBER = re.compile(r"^(?P<index>\d{2,})-(?P<kind>database|folder)\.enc\Z")
_STAMP = "%Y%m%d-%H-%M-%S"


@dataclass(frozen=True)
class SetName:
    """What a set's folder name tells without the key."""

    folder: str
    """The key prefix of the set's files: `sets/rc_set_…/`."""
    short_id: str
    created: datetime
    app_version: str
    mode: str


def set_folder(set_id: str, created_at: str, app_version: str, mode: str) -> str:
    """`sets/rc_set_{YYYYMMDD-HH-MM-SS}-{version}-{mode}-{short id}/` (docs/FORMAT.md 19.2)."""
    stamp = parse_created_at(created_at).strftime(_STAMP)
    version = re.sub(r"[^0-9A-Za-z.+_]", "_", app_version)
    return f"{SET_PREFIX}rc_set_{stamp}-{version}-{mode}-{set_id.replace('-', '')[:8]}/"


def member_file(index: int, kind: str) -> str:
    """A member's file name inside its set's folder: `01-database.enc`; the member's own name stays encrypted."""
    if kind not in MEMBER_KINDS:
        raise ValueError(f"unknown member kind {kind!r}")
    return f"{index:02d}-{kind}.enc"


def is_member_file(name: str) -> bool:
    return _MEMBER.match(name) is not None


def is_set_file(name: str) -> bool:
    """A name 19.2 gives a set's files: a member file, the manifest, or the sidecar of either."""
    bare = name.removesuffix(SIDECAR_SUFFIX)
    return bare == MANIFEST_NAME or is_member_file(bare)


def is_set_folder(folder: str) -> bool:
    """`folder` is exactly a set's folder, `sets/rc_set_…/`, and nothing above or below one."""
    parsed = parse_set_key(folder + MANIFEST_NAME)
    return parsed is not None and parsed[0].folder == folder


def parse_set_key(key: str) -> tuple[SetName, str] | None:
    """(the set's name, the file's name in it) for a key `sets/rc_set_…/FILE`; None for anything else."""
    if not key.startswith(SET_PREFIX):
        return None
    parts = key[len(SET_PREFIX):].split("/")
    if len(parts) != 2 or not parts[1]:
        return None
    match = _FOLDER.match(parts[0])
    if match is None:
        return None
    created = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC)
    name = SetName(f"{SET_PREFIX}{parts[0]}/", match["short"], created, match["version"], match["mode"])
    return name, parts[1]
