"""The configured storage targets (targets.json) and how a `--target` argument finds its storage."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from recovery_console.engine.state.named_store import NamedStore, usable_text
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import IntegrityError, NotFoundError, UsageError
from recovery_console.models.target import TARGET_KINDS, TargetConfig

AD_HOC_LOCAL = "local:"


class TargetStore(NamedStore[TargetConfig]):
    """The configured targets (targets.json); secrets are in the keyring, not here."""

    def __init__(self, paths: AppPaths) -> None:
        super().__init__(paths.config_dir / "targets.json", "target", TargetConfig.from_dict)

    def add(self, config: TargetConfig) -> None:
        if config.kind not in TARGET_KINDS:
            raise UsageError(f"Unknown target kind '{config.kind}'; choose one of {', '.join(TARGET_KINDS)}.")
        try:  # the rule that loading applies: a target saved must be one the next start can read back
            TargetConfig.from_dict(config.to_dict())
        except ValueError as exc:
            raise UsageError(f"Target '{config.name}' cannot be saved: {exc}.") from None
        super().add(config)

    def resolve(self, spec: str) -> TargetConfig:
        """A configured target's name, or a local folder path (named 'local:/abs/path')."""
        targets = self.load()
        if spec in targets:
            return targets[spec]
        usable_text(spec, "The target")
        if spec.startswith(AD_HOC_LOCAL):
            spec = spec[len(AD_HOC_LOCAL):]
        if os.sep in spec or spec.startswith(".") or Path(spec).is_dir():
            root = Path(spec).expanduser().absolute()
            for config in targets.values():
                if config.kind == "local" and Path(config.options["path"]) == root:
                    return config
            return TargetConfig(name=f"{AD_HOC_LOCAL}{root}", kind="local", options={"path": str(root)})
        raise NotFoundError(f"No target named '{spec}', and it is not a folder path.",
                            hint="Pick a configured target, or a folder.",
                            cli_hint="Name a configured target (`target list`) or give a folder path such as "
                                     "./backups.")


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
    from_config: Callable[[TargetConfig, SecretLookup], Storage] = importlib.import_module(module_name).from_config
    try:
        return from_config(config, secrets or _no_secrets)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # options edited by hand into a wrong shape
        problem = f"the option {exc} is missing" if isinstance(exc, KeyError) else f"an option is wrong ({exc})"
        raise IntegrityError(
            f"The settings of target '{config.name}' (targets.json) are damaged: {problem}.",
            hint="Fix that entry by hand, or remove the target and add it again; backups themselves are unaffected.",
            cli_hint=f"Fix that entry by hand, or remove the target (`target remove {config.name}`) and add it "
                     "again; backups themselves are unaffected.",
        ) from exc
