"""Where settings, the catalog and the audit log live (platformdirs, or RECOVERY_CONSOLE_HOME)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "recovery-console"
HOME_ENV = "RECOVERY_CONSOLE_HOME"


@dataclass(frozen=True)
class AppPaths:
    """The folders the console writes to; one object so tests and the demo can relocate all of them."""

    config_dir: Path
    data_dir: Path

    @classmethod
    def default(cls) -> AppPaths:
        home = os.environ.get(HOME_ENV)
        if home:
            root = Path(home)
            return cls(config_dir=root / "config", data_dir=root / "data")
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        )

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def catalog_file(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def audit_file(self) -> Path:
        return self.data_dir / "audit.jsonl"

    @property
    def runtime_dir(self) -> Path:
        """Private (0700) folder for temporary plaintext and its claims, swept at start (state/runtime_dir.py)."""
        return self.data_dir / "runtime"

    def ensure(self) -> AppPaths:
        for folder in (self.config_dir, self.data_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self
