"""The configured storage targets (targets.json) and how a `--target` argument finds its storage."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Callable

from ..models.target import TARGET_KINDS, TargetConfig
from .errors import IntegrityError, NotFoundError, UsageError
from .paths import AppPaths
from .storage.base import Storage

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
AD_HOC_LOCAL = "local:"


class TargetStore:
    """Reads and writes targets.json atomically; holds no secrets."""

    def __init__(self, paths: AppPaths) -> None:
        self.file = paths.config_dir / "targets.json"

    def load(self) -> dict[str, TargetConfig]:
        try:
            raw = json.loads(self.file.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"The target settings in {self.file} cannot be read: {exc}.",
                                 hint="Fix or remove that file; backups themselves are unaffected.") from exc
        return {item["name"]: TargetConfig.from_dict(item) for item in raw.get("targets", [])}

    def save(self, targets: dict[str, TargetConfig]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"targets": [t.to_dict() for t in targets.values()]}, indent=2), "utf-8")
        os.replace(tmp, self.file)

    def add(self, config: TargetConfig) -> None:
        if not _NAME.match(config.name):
            raise UsageError(f"'{config.name}' is not a usable target name.",
                             hint="Use letters, digits, '.', '_' or '-', starting with a letter or digit.")
        if config.kind not in TARGET_KINDS:
            raise UsageError(f"Unknown target kind '{config.kind}'; choose one of {', '.join(TARGET_KINDS)}.")
        targets = self.load()
        if config.name in targets:
            raise UsageError(f"A target named '{config.name}' already exists.",
                             hint="Pick another name, or remove the old target first.")
        targets[config.name] = config
        self.save(targets)

    def remove(self, name: str) -> TargetConfig:
        targets = self.load()
        if name not in targets:
            raise NotFoundError(f"No target named '{name}'.", hint="`recovery-console target list` shows them.")
        config = targets.pop(name)
        self.save(targets)
        return config

    def get(self, name: str) -> TargetConfig:
        targets = self.load()
        if name not in targets:
            raise NotFoundError(f"No target named '{name}'.", hint="`recovery-console target list` shows them.")
        return targets[name]

    def resolve(self, spec: str) -> TargetConfig:
        """A configured target's name, or a local folder path (named 'local:/abs/path')."""
        targets = self.load()
        if spec in targets:
            return targets[spec]
        if spec.startswith(AD_HOC_LOCAL):
            spec = spec[len(AD_HOC_LOCAL):]
        if os.sep in spec or spec.startswith(".") or Path(spec).is_dir():
            root = Path(spec).expanduser().absolute()
            for config in targets.values():
                if config.kind == "local" and Path(config.options["path"]) == root:
                    return config
            return TargetConfig(name=f"{AD_HOC_LOCAL}{root}", kind="local", options={"path": str(root)})
        raise NotFoundError(f"No target named '{spec}', and it is not a folder path.",
                            hint="Name a configured target (`target list`) or give a folder path such as ./backups.")


SECRET_NAMES = {
    "local": (),
    "s3": ("secret_access_key",),
    "smb": ("password",),
    "sftp": ("password", "private_key", "passphrase"),
}


def target_scope(name: str) -> str:
    """The keyring scope holding a target's secrets."""
    return f"target:{name}"


SecretLookup = Callable[[str], "str | None"]
_BACKENDS = {
    "local": "recovery_console.engine.storage.local",
    "s3": "recovery_console.engine.storage.s3",
    "sftp": "recovery_console.engine.storage.sftp",
    "smb": "recovery_console.engine.storage.smb",
}


def _no_secrets(name: str) -> None:
    return None


def open_storage(config: TargetConfig, secrets: SecretLookup | None = None) -> Storage:
    """Build the storage backend for a target; `secrets` looks up the target's keyring entries by name."""
    module_name = _BACKENDS.get(config.kind)
    if module_name is None or importlib.util.find_spec(module_name) is None:
        raise UsageError(f"Targets of kind '{config.kind}' are not supported by this release.")
    return importlib.import_module(module_name).from_config(config, secrets or _no_secrets)
