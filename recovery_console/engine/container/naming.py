"""Backup object names that show date, version and mode without decrypting anything."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from recovery_console.errors import IntegrityError
from recovery_console.models.backup import BackupMetadata

BACKUP_PREFIX = "backups/"
BACKUP_SUFFIX = ".enc"
_NAME = re.compile(
    r"^rc_backup_(?P<stamp>\d{8}-\d{2}-\d{2}-\d{2})-(?P<version>[0-9A-Za-z.+_]+)-"
    r"(?P<mode>manual|scheduled)-(?P<short>[0-9a-f]{8})\.enc\Z"
)
_STAMP = "%Y%m%d-%H-%M-%S"


@dataclass(frozen=True)
class NameInfo:
    """What a backup's file name tells without its key."""

    short_id: str
    created: datetime | None = None
    app_version: str | None = None
    mode: str | None = None


def parse_created_at(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise IntegrityError(f"The backup's creation time {value!r} is not an ISO-8601 timestamp.") from None


def backup_key(metadata: BackupMetadata) -> str:
    stamp = parse_created_at(metadata.created_at).strftime(_STAMP)
    version = re.sub(r"[^0-9A-Za-z.+_]", "_", metadata.app_version)
    short = metadata.backup_id.replace("-", "")[:8]
    return f"{BACKUP_PREFIX}rc_backup_{stamp}-{version}-{metadata.mode}-{short}{BACKUP_SUFFIX}"


def is_backup_key(key: str) -> bool:
    return key.startswith(BACKUP_PREFIX) and key.endswith(BACKUP_SUFFIX)


def parse_backup_key(key: str) -> NameInfo:
    """Decode a conforming name; a foreign `.enc` file gets a stable id from its key."""
    match = _NAME.match(key.rsplit("/", 1)[-1])
    if not match:
        return NameInfo(short_id=hashlib.sha256(key.encode()).hexdigest()[:8])
    created = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC)
    return NameInfo(short_id=match["short"], created=created, app_version=match["version"], mode=match["mode"])


def check_name_matches(location: str, metadata: BackupMetadata) -> None:
    """A conforming file name must name the backup inside it: a renamed old backup must not pass as new."""
    name = parse_backup_key(location.rsplit("/", 1)[-1])
    if name.created is not None and not metadata.backup_id.replace("-", "").startswith(name.short_id):
        raise IntegrityError(
            f"The file is named for backup {name.short_id}, but it holds backup {metadata.backup_id} "
            f"created {metadata.created_at}.",
            hint="The file was renamed or replaced; treat it as the backup its contents say, not its name.",
        )
