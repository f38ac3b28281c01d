"""Deployment profiles: saved settings, their secrets in the keyring, and the connection checks.

Every change (create, set-mode, set-target, remove, an instance secret stored or forgotten) is one
audited call here, so the CLI and the GUI only gather input and show the result.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

from recovery_console.engine.pg import postgres
from recovery_console.engine.pg.connection_report import ConnectionReport, report_connection
from recovery_console.engine.pg.server_versions import ServerVersions
from recovery_console.engine.state import grouped_secret, keyring_store
from recovery_console.engine.state.keyring_store import KeyringStatus, SecretStore, SecretValue, reveal
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_store import DB_PASSWORD, DIRECT_PASSWORD, ProfileStore, dump_password_entry
from recovery_console.engine.state.targets import TargetStore
from recovery_console.engine.who import utc_now
from recovery_console.errors import RecoveryError, SecretUnavailableError, UsageError
from recovery_console.models.policy import Policy
from recovery_console.models.profile import ConnectionMode, InstanceSecret, Profile

INSTANCE_SECRET = "instance_secret"


def profile_scope(name: str) -> str:
    return f"profile:{name}"


class Audited(Protocol):
    """`Console.audited`: one audit entry (ok, failed or cancelled) for the block it wraps."""

    def __call__(self, action: str, obj: str,
                 detail: dict[str, Any] | None = None) -> AbstractContextManager[dict[str, Any]]: ...


class Profiles:
    """Create, change and check profiles; every secret goes to the keyring, never to profiles.json."""

    def __init__(self, paths: AppPaths, secrets: SecretStore, audited: Audited) -> None:
        self.store = ProfileStore(paths)
        self.secrets = secrets
        self.audited = audited
        self.targets = TargetStore(paths)
        self.server_versions = ServerVersions(paths.data_dir)
        self._secure_legacy_urls()

    def _secure_legacy_urls(self) -> None:
        """Move a password an older release left in a saved URL to the keyring (or drop it when the keyring
        already holds one, which libpq preferred anyway). Without a usable keyring it stays, for later."""
        if not self.store.file.exists():
            return
        try:
            profiles = self.store.load().values()
        except RecoveryError:
            return  # a damaged profiles.json is reported by the command that needs it
        for profile in profiles:
            urls = (profile.database_url, profile.direct_url or "")
            if any(postgres.may_hold_password(url) for url in urls):
                with contextlib.suppress(RecoveryError):
                    self._secure_urls_of(profile)

    def _secure_urls_of(self, profile: Profile) -> None:
        url, password = postgres.split_password(profile.database_url)
        direct_url, direct_password = (postgres.split_password(profile.direct_url) if profile.direct_url
                                       else (None, None))
        if (password is None and direct_password is None) or not self.secrets.probe().usable:
            return
        with self.audited("profile.secure-url", profile.name):
            stored = profile.stored_secrets
            for secret_name, value in ((DB_PASSWORD, password), (DIRECT_PASSWORD, direct_password)):
                if value is not None and secret_name not in stored:
                    self.secrets.put(profile_scope(profile.name), secret_name, value)
                    stored += (secret_name,)
            self.store.replace(replace(profile, database_url=url, direct_url=direct_url, stored_secrets=stored))

    def create(self, name: str, database_url: str, *, target: str | None = None,
               instance_secret: str | None = None, tool_dirs: list[str] | None = None) -> Profile:
        with self.audited("profile.create", name, {"target": target}):
            url, password = postgres.split_password(database_url)
            if instance_secret is not None:  # a grouped secret is kept as generated, a mistyped group refused
                instance_secret = grouped_secret.canonical(instance_secret)
            secrets = {INSTANCE_SECRET: instance_secret, DB_PASSWORD: password}
            stored = tuple(name for name, value in secrets.items() if value is not None)
            profile = Profile(name=name, database_url=url, target=target, tool_dirs=list(tool_dirs or []),
                              stored_secrets=stored)
            self.store.check_new(name)
            self.store.check_storable(profile)
            for secret_name in stored:
                self.secrets.put(profile_scope(name), secret_name, secrets[secret_name])  # type: ignore[arg-type]
            try:
                self.store.add(profile)
            except BaseException:
                for secret_name in stored:
                    self.secrets.delete(profile_scope(name), secret_name)
                raise
            return profile

    def set_mode(self, name: str, mode: ConnectionMode, *, acknowledge_direct: bool = False,
                 direct_url: str | None = None) -> Profile:
        with self.audited("profile.set-mode", name, {"mode": mode.value}):
            return self._set_mode(name, mode, acknowledge_direct, direct_url)

    def _set_mode(self, name: str, mode: ConnectionMode, acknowledge_direct: bool, direct_url: str | None) -> Profile:
        profile = self.store.get(name)
        password = None
        if direct_url is not None:
            direct_url, password = postgres.split_password(direct_url)
        updated = profile.with_mode(mode, acknowledge_direct=acknowledge_direct, direct_url=direct_url)
        others = tuple(n for n in updated.stored_secrets if n != DIRECT_PASSWORD)
        if password is not None:
            self.secrets.put(profile_scope(name), DIRECT_PASSWORD, password)
            updated = replace(updated, stored_secrets=others + (DIRECT_PASSWORD,))
        elif DIRECT_PASSWORD in profile.stored_secrets:
            self.secrets.delete(profile_scope(name), DIRECT_PASSWORD)
            updated = replace(updated, stored_secrets=others)
        self.store.replace(updated)
        return updated

    def set_url(self, name: str, database_url: str, *, acknowledge_direct: bool = False) -> Profile:
        """A new database URL (its password goes to the keyring). A profile declared direct keeps that only when
        the user acknowledges again that the new URL is not a pooler."""
        with self.audited("profile.set-url", name):
            if not database_url.strip():
                raise UsageError("No database URL was given.", hint="Give a URL such as postgresql://host/db.")
            profile = self.store.get(name)
            url, password = postgres.split_password(database_url.strip())
            if profile.mode is ConnectionMode.DIRECT and url != profile.database_url and not acknowledge_direct:
                raise UsageError(
                    "A new URL for a direct profile needs your acknowledgement that it does not point at a "
                    "connection pooler.", hint="Confirm it is direct, or declare pool mode with a direct URL.")
            stored = profile.stored_secrets
            if password is not None:
                self.secrets.put(profile_scope(name), DB_PASSWORD, password)
                stored = tuple(n for n in stored if n != DB_PASSWORD) + (DB_PASSWORD,)
            updated = replace(profile, database_url=url, stored_secrets=stored)
            self.store.replace(updated)
            return updated

    def set_target(self, name: str, target: str) -> Profile:
        """Send the profile's next backups to `target` (a configured name or a folder); older ones stay put."""
        with self.audited("profile.set-target", name, {"target": target}):
            self.targets.resolve(target)
            profile = replace(self.store.get(name), target=target)
            self.store.replace(profile)
            return profile

    def set_policy(self, name: str, policy: Policy, *, now: str | None = None) -> Profile:
        """Save the profile's policy (models/policy.py); its secondary targets must exist and differ from its
        own. A new or changed schedule starts at `now` (the save, UTC ISO; tests inject it): slots before it
        are not missed runs. Other changes keep the schedule's start, so a missed run is still made up."""
        with self.audited("profile.set-policy", name, {"policy": policy.summary()}):
            profile = self.store.get(name)
            for target in policy.secondary_targets:
                if target == profile.target:
                    raise UsageError(f"'{target}' is the profile's own target; copies go to other targets.",
                                     hint="Name a secondary target other than where the backups are made.")
                self.targets.resolve(target)
            old = profile.policy
            same = old is not None and (old.schedule, old.enabled) == (policy.schedule, policy.enabled)
            since = old.since if same and old is not None and old.since else now or utc_now()
            updated = replace(profile, policy=replace(policy, since=since))
            self.store.replace(updated)
            return updated

    def remove(self, name: str) -> Profile:
        with self.audited("profile.remove", name):
            profile = self.store.remove(name)
            for secret in profile.stored_secrets:
                self.secrets.delete(profile_scope(name), secret)
            return profile

    def set_instance_secret(self, name: str, secret: SecretValue, *, replace_existing: bool = False) -> KeyringStatus:
        """Keep the instance secret for keyring name `name`; a callable `secret` is asked only once it can be stored.

        Refuses to overwrite a stored secret unless `replace_existing`: backups made with the old one
        would need it from elsewhere. A profile of that name lists the secret as stored.
        """
        with self.audited("keyring.set-secret", name, {"replace": replace_existing}) as detail:
            self._refuse_if_rotated(name, "replaced")
            scope = keyring_store.profile_scope(name)
            status = self.secrets.probe()
            if not status.usable:
                raise SecretUnavailableError(f"Cannot store the instance secret: {status.message}", hint=status.hint)
            if not replace_existing and self.secrets.get(scope, INSTANCE_SECRET):
                raise UsageError(f"An instance secret is already stored under '{name}'.",
                                 hint="Replace it only if no backup still needs the old one, or pick another name.",
                                 cli_hint="Replace it (--replace) only if no backup still needs the old one, "
                                          "or pick another name.")
            self.secrets.put(scope, INSTANCE_SECRET, grouped_secret.canonical(reveal(secret)))
            profile = self.store.load().get(name)
            if profile is not None and INSTANCE_SECRET not in profile.stored_secrets:
                self.store.replace(replace(profile, stored_secrets=profile.stored_secrets + (INSTANCE_SECRET,)))
            detail.update(backend=status.backend, secure=status.secure)
            return status

    def forget_instance_secret(self, name: str) -> bool:
        """Remove the instance secret kept under keyring name `name`; False if there was none."""
        with self.audited("keyring.forget", name) as detail:
            self._refuse_if_rotated(name, "forgotten")
            removed = bool(self.secrets.forget_scope(keyring_store.profile_scope(name), [INSTANCE_SECRET]))
            profile = self.store.load().get(name)
            if profile is not None and INSTANCE_SECRET in profile.stored_secrets:
                kept = tuple(n for n in profile.stored_secrets if n != INSTANCE_SECRET)
                self.store.replace(replace(profile, stored_secrets=kept))
            detail.update(removed=removed)
            return removed

    def _refuse_if_rotated(self, name: str, what: str) -> None:
        """A profile with rotated secrets changes them through its rotation (engine/secret_rotation.py), which keeps
        every secret a kept backup needs and makes a new one the newest; its first secret is not set or forgotten
        behind the rotation's back."""
        profile = self.store.load().get(name)
        if profile is not None and profile.instance_secrets:
            raise UsageError(f"Profile '{name}' has several instance secrets (it was rotated); its first one is not "
                             f"{what} on its own. Nothing was changed.",
                             hint="Add a new secret to the profile (it becomes the one new backups use), and remove "
                                  "an old one in the profile's instance secrets once no kept backup needs it.",
                             cli_hint=f"Add one with `profile secret add {name}`; remove an old one with `profile "
                                      f"secret remove {name} LABEL`, which refuses while a kept backup needs it.")

    def instance_secret(self, name: str) -> str:
        """The secret new backups of the profile are made with: its newest (engine/secret_rotation.py)."""
        return self.newest_secret(name)[1]

    def newest_secret(self, name: str) -> tuple[InstanceSecret, str]:
        """The profile's newest instance secret: which it is, and its value from the keyring."""
        newest = self.store.get(name).secrets_newest_first[:1]
        secret = self.secrets.get(profile_scope(name), newest[0].entry) if newest else None
        if not newest or not secret:
            raise SecretUnavailableError(f"The OS keyring holds no instance secret for profile '{name}'.",
                                         hint=f"Store it in the keyring by editing profile '{name}', or give it "
                                              "when asked.",
                                         cli_hint="Pass --secret-key-file, or store it with `keyring set-secret`.")
        return newest[0], secret

    def dump_password(self, profile: Profile) -> str | None:
        """The password for the URL pg_dump/pg_restore use (the direct one in pool mode)."""
        entry = dump_password_entry(profile)
        return self.secrets.get(profile_scope(profile.name), entry) if entry is not None else None

    def warnings(self, profile: Profile) -> list[str]:
        """Pooler tells in a URL declared direct: shown, never blocking."""
        if profile.mode is not ConnectionMode.DIRECT:
            return []
        tells = postgres.pooler_tells(profile.database_url)
        return [f"The URL declared direct looks like a pooler: {tell}." for tell in tells]

    def test(self, name: str) -> ConnectionReport:
        """Reach PostgreSQL through the URL backup/restore will use; report version and tool fit, and remember
        the version for the next backup's choice of pg_dump."""
        profile = self.store.get(name)
        url = profile.dump_url()
        password = self.dump_password(profile)
        warnings = self.warnings(profile)
        if profile.mode is ConnectionMode.DIRECT:
            warnings += [f"Seen on the direct URL: {seen}." for seen in postgres.probe_pooler(url, password)]
        report = report_connection(name, url, password, warnings, profile.tool_dirs)
        if report.server_version is not None:
            self.server_versions.remember(url, report.server_version)
        return report

