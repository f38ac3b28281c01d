"""Who acts and when: the OS user, the host and the UTC time stamped on backups and audit entries."""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime


def current_user() -> str:
    """The OS user running the console; the numeric uid where the name cannot be looked up."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # which one depends on the platform
        return str(os.getuid())


def user_at_host() -> str:
    return f"{current_user()}@{socket.gethostname()}"


def utc_now(moment: datetime | None = None) -> str:
    """Now (or `moment`, an injected clock's reading) in UTC to the second, as a backup's created_at:
    2026-12-06T23:51:18Z."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
