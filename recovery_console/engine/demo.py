"""A self-contained demo: a local target holding real backups of the sample archives shipped with the app."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.backup import BackupRecord
from recovery_console.models.target import TargetConfig

DEMO_TARGET = "demo"


@dataclass(frozen=True)
class Demo:
    """What the demo set up: where, which secret file, and the backups it made."""

    console: Console
    secret_file: Path
    secret: str
    backups: list[BackupRecord]


def sample_archives() -> list[Path]:
    folder = resources.files("recovery_console") / "demo"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".dump"))


def set_up(home: Path) -> Demo:
    """Create (or reuse) a demo home with a local target and one backup per shipped sample archive."""
    home = home.absolute()
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    secret_file = home / "demo-secret.txt"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    secret = secret_file.read_text("utf-8").rstrip("\n")
    if DEMO_TARGET not in console.targets.load():
        folder = home / "target"
        folder.mkdir(parents=True, exist_ok=True)
        console.add_target(TargetConfig(name=DEMO_TARGET, kind="local", options={"path": str(folder)}))
    existing, _ = console.list_backups([DEMO_TARGET])
    made = {r.metadata.source_name for r in existing if r.metadata}
    for sample in sample_archives():
        if sample.name not in made:
            with open(sample, "rb") as stream:
                console.create_backup(stream, DEMO_TARGET, secret, description=f"demo backup of {sample.name}",
                                      source_name=sample.name, source_size=sample.stat().st_size)
    backups, _ = console.list_backups([DEMO_TARGET])
    return Demo(console, secret_file, secret, backups)
