"""The PostgreSQL version last seen behind each dump URL, so a backup can start pg_dump at once.

Only a hint: pg_dump names the server in its archive header, and a backup whose header
disagrees with the pg_dump picked from the hint starts over after a probe connection. Kept in
``server_versions.json`` in the data folder, keyed by URL without its password (postgres.redact): a key
holding one (written by an older release) is rewritten without it on the next save.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from recovery_console.engine.pg.postgres import redact
from recovery_console.engine.state.atomic import write_json
from recovery_console.errors import RecoveryError

FILE_NAME = "server_versions.json"


class ServerVersions:
    """Remembered `server_version` strings ("15.14 (Debian …)") by database URL."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def _load(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: the next backup probes the server and writes it again
        if not isinstance(raw, dict):
            return {}
        return {redact(k): v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}

    def get(self, url: str) -> str | None:
        return self._load().get(redact(url))

    def remember(self, url: str, version: str) -> None:
        """Save `version` for `url`; a hint that cannot be saved (full disk) only costs a probe later."""
        versions, key = self._load(), redact(url)
        if versions.get(key) == version and not self._holds_password():
            return
        versions[key] = version
        with contextlib.suppress(OSError, RecoveryError):
            write_json(self.path, versions, sort_keys=True)

    def _holds_password(self) -> bool:
        """Whether the file still has a key with a password in it (saved by an older release)."""
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(raw, dict) and any(isinstance(k, str) and redact(k) != k for k in raw)
