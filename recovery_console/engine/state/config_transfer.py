"""Moving a console's configuration to another machine: export, preview an import, apply it.

An import is planned first (what would be added, what is unchanged, which names conflict) and
then applied with a keep, replace or rename choice per conflict; each record added or replaced
is one audit entry, and its secrets go into this machine's keyring, never into a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from recovery_console.engine.container import format as fmt
from recovery_console.engine.state.config_bundle import (
    ConfigDocument,
    Secrets,
    is_sealed,
    passphrase_strength,
    read_document,
    write_document,
)
from recovery_console.engine.state.keyring_store import SecretStore
from recovery_console.engine.state.profiles import INSTANCE_SECRET, Audited, Profiles, profile_scope
from recovery_console.engine.state.targets import AD_HOC_LOCAL, SECRET_NAMES, TargetStore, target_scope
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import UsageError
from recovery_console.models.profile import Profile
from recovery_console.models.target import TargetConfig

RESOLUTIONS = ("keep", "replace", "rename")
RENAME_SUFFIX = "-imported"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


@dataclass(frozen=True)
class PlannedChange:
    """One record of the export against this console: add, unchanged, or a conflict by name."""

    kind: str  # target or profile
    name: str
    action: str  # add, unchanged or conflict
    differences: tuple[str, ...] = ()  # what differs from the record of that name here
    secrets: tuple[str, ...] = ()  # the secrets the export carries for it
    rename_to: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name


@dataclass(frozen=True)
class ImportPlan:
    """What importing `source` would do; `warnings` name references this console cannot satisfy."""

    source: Path
    document: ConfigDocument
    changes: list[PlannedChange]
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "encrypted": self.document.sealed,
                "exported_at": self.document.exported_at, "exported_by": self.document.exported_by,
                "changes": [asdict(c) for c in self.changes], "warnings": self.warnings}


@dataclass(frozen=True)
class ImportOutcome:
    """What became of one record: added, replaced, renamed (stored as `stored_as`), kept or unchanged."""

    kind: str
    name: str
    result: str
    stored_as: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    encrypted: bool
    targets: int
    profiles: int
    secrets: int
    size: int
    strength: str | None = None


def _comparable(record: TargetConfig | Profile) -> dict[str, Any]:
    """The settings that matter for 'unchanged': not which secrets this keyring holds, not the policy's save time."""
    data = record.to_dict()
    data.pop("stored_secrets", None)
    if isinstance(data.get("policy"), dict):
        data["policy"].pop("since", None)
    return data


class ConfigTransfer:
    """Export this console's targets and profiles, and import another's (`Console.config_transfer()`)."""

    def __init__(self, targets: TargetStore, profiles: Profiles, secrets: SecretStore, audited: Audited,
                 on_target_changed: Callable[[str], None] = lambda name: None) -> None:
        self.targets = targets
        self.profiles = profiles
        self.secrets = secrets
        self.audited = audited
        self.on_target_changed = on_target_changed

    # -- export ----------------------------------------------------------------------------------

    def export(self, path: Path, *, passphrase: str | None = None, allow_weak: bool = False,
               overwrite: bool = False, iterations: int = fmt.DEFAULT_ITERATIONS) -> ExportSummary:
        """Write targets and profiles (with their policies); with a passphrase, sealed and with their secrets."""
        with self.audited("config.export", str(path), {"encrypted": passphrase is not None}) as detail:
            strength = passphrase_strength(passphrase) if passphrase is not None else None
            if strength is not None and strength.level == "weak" and not allow_weak:
                raise UsageError(f"The passphrase is weak (about {strength.bits} bits); nothing was exported.",
                                 hint=strength.advice + " Or confirm that a weak passphrase is what you want.",
                                 cli_hint=strength.advice + " Or pass --allow-weak to use it anyway.")
            targets = list(self.targets.load().values())
            profiles = list(self.profiles.store.load().values())
            secrets = self._gather_secrets(targets, profiles) if passphrase is not None else {}
            document = ConfigDocument(targets, profiles, secrets, exported_at=utc_now(),
                                      exported_by=user_at_host(), sealed=passphrase is not None)
            size = write_document(document, path, passphrase, overwrite=overwrite, iterations=iterations)
            count = sum(len(entries) for entries in secrets.values())
            detail.update(targets=len(targets), profiles=len(profiles), secrets=count)
            return ExportSummary(path, passphrase is not None, len(targets), len(profiles), count, size,
                                 strength.level if strength else None)

    def _gather_secrets(self, targets: list[TargetConfig], profiles: list[Profile]) -> Secrets:
        found: Secrets = {}
        for target in targets:
            for name in SECRET_NAMES.get(target.kind, ()):
                if value := self.secrets.get(target_scope(target.name), name):
                    found.setdefault(target_scope(target.name), {})[name] = value
        for profile in profiles:
            for name in dict.fromkeys((*profile.stored_secrets, INSTANCE_SECRET)):
                if value := self.secrets.get(profile_scope(profile.name), name):
                    found.setdefault(profile_scope(profile.name), {})[name] = value
        return found

    # -- import ----------------------------------------------------------------------------------

    @staticmethod
    def needs_passphrase(path: Path) -> bool:
        return is_sealed(path)

    def plan(self, path: Path, passphrase: str | None = None) -> ImportPlan:
        """Read and check the export whole (a wrong passphrase or altered file is refused here), then compare."""
        document = read_document(path, passphrase)
        targets, profiles = self.targets.load(), self.profiles.store.load()
        target_names = set(targets) | {t.name for t in document.targets}
        profile_names = set(profiles) | {p.name for p in document.profiles}
        changes = [self._compare("target", t, targets.get(t.name), document.secrets, target_names)
                   for t in document.targets]
        changes += [self._compare("profile", p, profiles.get(p.name), document.secrets, profile_names)
                    for p in document.profiles]
        known = target_names
        warnings = []
        for profile in document.profiles:
            wanted = ([profile.target] if profile.target else []) + list(
                profile.policy.secondary_targets if profile.policy else ())
            for target in wanted:
                if target not in known and not target.startswith((AD_HOC_LOCAL, "/", ".")):
                    warnings.append(f"Profile '{profile.name}' names target '{target}', which neither the export "
                                    "nor this console has.")
        if not document.sealed and (any(p.stored_secrets for p in document.profiles)
                                    or any(SECRET_NAMES.get(t.kind) for t in document.targets)):
            warnings.append("This export carries no secrets: give the instance secrets, database passwords and "
                            "target logins again on this machine.")
        return ImportPlan(path, document, changes, warnings)

    def _compare(self, kind: str, record: TargetConfig | Profile, existing: TargetConfig | Profile | None,
                 secrets: Secrets, taken: set[str]) -> PlannedChange:
        scope = target_scope(record.name) if kind == "target" else profile_scope(record.name)
        carried = tuple(sorted(secrets.get(scope, {})))
        if existing is None:
            return PlannedChange(kind, record.name, "add", secrets=carried)
        theirs, ours = _comparable(record), _comparable(existing)
        differences = [key for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
        if any(self.secrets.get(scope, name) != value for name, value in secrets.get(scope, {}).items()):
            differences.append("secrets")
        if not differences:
            return PlannedChange(kind, record.name, "unchanged", secrets=carried)
        return PlannedChange(kind, record.name, "conflict", tuple(differences), carried,
                             rename_to=_free_name(record.name, taken))

    def apply(self, plan: ImportPlan, resolutions: Mapping[tuple[str, str], str] | None = None,
              default: str = "keep") -> list[ImportOutcome]:
        """Carry the plan out: each conflict as `resolutions[(kind, name)]` says (else `default`); one audit
        entry per record added or replaced. Targets first, so the profiles' references to renamed ones follow."""
        choices = {change.key: (resolutions or {}).get(change.key, default) for change in plan.changes}
        for choice in choices.values():
            if choice not in RESOLUTIONS:
                raise UsageError(f"'{choice}' is not a way to settle a conflict; choose keep, replace or rename.")
        renamed = {c.name: c.rename_to for c in plan.changes
                   if c.kind == "target" and c.action == "conflict" and choices[c.key] == "rename"}
        outcomes = []
        for change in plan.changes:
            choice = choices[change.key] if change.action == "conflict" else change.action
            if choice in ("keep", "unchanged"):
                outcomes.append(ImportOutcome(change.kind, change.name, "kept" if choice == "keep" else "unchanged",
                                              change.name))
                continue
            final = change.rename_to if choice == "rename" else change.name
            result = {"add": "added", "replace": "replaced", "rename": "renamed"}[choice]
            with self.audited("config.import", f"{change.kind}:{final}",
                              {"action": result, "name_in_export": change.name, "from": str(plan.source),
                               "secrets": list(change.secrets)}):
                if change.kind == "target":
                    self._import_target(plan, change.name, final, replacing=choice == "replace")
                else:
                    self._import_profile(plan, change.name, final, renamed, replacing=choice == "replace")
            outcomes.append(ImportOutcome(change.kind, change.name, result, final, change.secrets))
        return outcomes

    def _import_target(self, plan: ImportPlan, name: str, final: str, *, replacing: bool) -> None:
        config = next(t for t in plan.document.targets if t.name == name)
        config = replace(config, name=final)
        if not replacing:
            self.targets.check_new(final)
        self.targets.check_storable(config)
        for secret_name, value in plan.document.secrets.get(target_scope(name), {}).items():
            self.secrets.put(target_scope(final), secret_name, value)
        if replacing:
            self.targets.replace(config)
        else:
            self.targets.add(config)
        self.on_target_changed(final)

    def _import_profile(self, plan: ImportPlan, name: str, final: str, renamed: dict[str, str], *,
                        replacing: bool) -> None:
        profile = next(p for p in plan.document.profiles if p.name == name)
        carried = plan.document.secrets.get(profile_scope(name), {})
        policy = profile.policy
        if policy is not None:  # slots before the import are not this console's missed runs
            policy = replace(policy, since=utc_now(),
                             secondary_targets=tuple(renamed.get(t, t) for t in policy.secondary_targets))
        old = self.profiles.store.load().get(final) if replacing else None
        kept = tuple(n for n in (old.stored_secrets if old else ()) if n not in carried)
        profile = replace(profile, name=final, policy=policy, stored_secrets=kept + tuple(carried),
                          target=renamed.get(profile.target, profile.target) if profile.target else None)
        if not replacing:
            self.profiles.store.check_new(final)
        self.profiles.store.check_storable(profile)
        for secret_name, value in carried.items():
            self.secrets.put(profile_scope(final), secret_name, value)
        if replacing:
            self.profiles.store.replace(profile)
        else:
            self.profiles.store.add(profile)


def _free_name(name: str, taken: set[str]) -> str:
    """`name-imported` (then -imported-2, …) cut to fit the 64 characters a name may have."""
    for number in range(1, 1000):
        suffix = RENAME_SUFFIX if number == 1 else f"{RENAME_SUFFIX}-{number}"
        candidate = name[:64 - len(suffix)] + suffix
        if candidate not in taken and _NAME.match(candidate):
            return candidate
    raise UsageError(f"No free name to import '{name}' under.", hint="Rename or remove some of the records here.")
