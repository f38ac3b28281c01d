"""A profile's instance secrets in rotation (docs/SECRETS.md section 6): add, list, remove, and opening a backup
by trying them.

Listing reads profiles.json only (no keyring, no key derivation). Opening a backup reads its 64-byte preamble
once, then tries the secret the catalog recorded for it first and the others newest first, one PBKDF2 each
(the container caches it, so the read that follows derives nothing again); the catalog then records which
secret opened it, by label. A secret a kept backup or kept recovery set needs (its manifest opens with it) is not
removed unless forced with its label typed.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.reader import read_preamble
from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_catalog import UNFINISHED, SetCatalog, SetRecord
from recovery_console.engine.state import grouped_secret
from recovery_console.engine.state.keyring_store import SecretValue, profile_scope, reveal
from recovery_console.engine.who import utc_now
from recovery_console.errors import (
    Cancelled,
    NotFoundError,
    RecoveryError,
    SecretUnavailableError,
    UsageError,
    WrongKeyError,
)
from recovery_console.formatting import counted, some_of
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import LEGACY_SECRET_ENTRY, InstanceSecret, Profile
from recovery_console.models.retention import RetentionRules

log = logging.getLogger(__name__)
ENTRY_PREFIX = "instance_secret."
"""Keyring entries of secrets added by rotation: `instance_secret.<UTC time>`; the first keeps `instance_secret`."""
MAX_LABEL = 64
Needed = BackupRecord | SetRecord
"""What keeps a secret from being removed: a kept backup, or a kept recovery set."""


@dataclass(frozen=True)
class OpenedBy:
    """The secret that opened a backup: its profile, its listing entry, and its text (never shown or stored)."""

    profile: str
    secret: InstanceSecret
    value: str = field(repr=False)
    tries: int = 1
    """How many key derivations it took to find it."""


@dataclass(frozen=True)
class AddedSecret:
    """A secret just added; `generated` holds its text when the console made it (show it once, then drop it)."""

    secret: InstanceSecret
    generated: str | None = field(default=None, repr=False)


def default_label(now: str | None = None) -> str:
    """'2026-12 key': the month the secret was added."""
    return f"{(now or utc_now())[:7]} key"


class SecretRotation:
    """The instance secrets of the console's profiles; every change is one audited call."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def secrets(self, profile_name: str) -> tuple[InstanceSecret, ...]:
        """The profile's secrets, newest first (the first makes new backups); reads no keyring."""
        return self.console.profiles.store.get(profile_name).secrets_newest_first

    def add(self, profile_name: str, label: str | None = None, value: SecretValue | None = None) -> AddedSecret:
        """Add a secret as the profile's newest: `value` as entered (a grouped one checked), or a generated one."""
        with self.console.audited("profile.secret-add", profile_name) as detail:
            profile = self.console.profiles.store.get(profile_name)
            now = utc_now()
            label = _checked_label(label if label is not None else _free_label(profile, default_label(now)))
            if any(s.label == label for s in profile.secrets_newest_first):
                raise UsageError(f"Profile '{profile_name}' already has a secret labelled '{label}'.",
                                 hint="Pick another label, such as the month and a letter.")
            generated = grouped_secret.generate() if value is None else None
            text = grouped_secret.canonical(reveal(value)) if value is not None else generated or ""
            same = self.identify(profile_name, text) if value is not None else None
            if same is not None:
                raise UsageError(f"That secret is already the profile's '{same.label}'; nothing was added.",
                                 hint="A rotation needs a new secret: generate one, or give another.")
            entry = _free_entry(profile, now)
            secret = InstanceSecret(entry=entry, label=label, created=now)
            scope = profile_scope(profile_name)
            self.console.secrets.put(scope, entry, text)
            try:
                self.console.profiles.store.replace(replace(
                    profile, instance_secrets=(secret, *profile.secrets_newest_first),
                    stored_secrets=(*profile.stored_secrets, entry)))
            except BaseException:
                self.console.secrets.delete(scope, entry)
                raise
            detail.update(label=label, entry=entry, generated=generated is not None)
            return AddedSecret(secret, generated)

    def needed_by(self, profile_name: str, label: str, reporter: Reporter | None = None) -> list[Needed]:
        """The kept backups and recovery sets (pinned, or kept by the profile's retention) this secret opens: the
        backups the catalog records it opened, and those it was never tried on that it does open, and each kept set
        whose manifest it opens (one key derivation each)."""
        profile = self.console.profiles.store.get(profile_name)
        secret = _find(profile, label)
        kept, sets = self._kept(profile)
        opened = self.console.catalog.opened_with(list({r.target for r in kept}))
        needing: list[Needed] = [r for r in kept if (o := opened.get((r.target, r.key))) is not None
                                 and (o.profile, o.entry) == (profile.name, secret.entry)]
        unknown = [r for r in kept if (r.target, r.key) not in opened]
        value = self.console.secrets.get(profile_scope(profile.name), secret.entry) if unknown or sets else None
        if value:  # a secret the keyring lost opens nothing more (a locked keyring raises)
            for record in unknown:
                if reporter is not None:
                    reporter.token.raise_if_cancelled()
                if self._opens(record, value):
                    self.console.catalog.remember_opened_with(record, profile.name, secret.entry, secret.label)
                    needing.append(record)
            for kept_set in sets:
                if reporter is not None:
                    reporter.token.raise_if_cancelled()
                if self._set_opens(kept_set, value):
                    needing.append(kept_set)
        return needing

    def remove(self, profile_name: str, label: str, *, force: bool = False, confirm: str | None = None,
               reporter: Reporter | None = None) -> InstanceSecret:
        """Remove a secret from the profile and the keyring; refused while a kept backup needs it, unless `force`
        with `confirm` equal to its label."""
        with self.console.audited("profile.secret-remove", profile_name, {"label": label, "force": force}) as detail:
            profile = self.console.profiles.store.get(profile_name)
            secret = _find(profile, label)
            needing = self.needed_by(profile_name, label, reporter)
            detail.update(needed_by=[needed_name(r) for r in needing])
            if needing and not force:
                names = some_of([f"{needed_name(r)} ({r.created or '?'}, {r.target})" for r in needing], 10)
                raise UsageError(
                    f"The secret '{label}' of profile '{profile_name}' still opens {needed_count(needing)}: "
                    f"{names}. Nothing was removed.",
                    hint="Keep the secret until those backups are pruned, or remove it anyway by typing its label "
                         "to confirm: those backups can then only be opened with a copy of the secret kept "
                         "elsewhere.",
                    cli_hint=f"Keep it until those backups are pruned, or pass --force --confirm '{label}' to remove "
                             "it anyway: those backups then open only with a copy of it kept elsewhere.")
            if force and confirm != label:
                raise UsageError(f"The confirmation typed does not match the label '{label}'; nothing was removed.",
                                 hint="Type the secret's label exactly as listed to confirm removing it.")
            if secret == profile.secrets_newest_first[0] and len(profile.secrets_newest_first) == 1 and not force:
                raise UsageError(f"'{label}' is the only instance secret of profile '{profile_name}'; its backups "
                                 "could not be made without it. Nothing was removed.",
                                 hint="Add a new secret first, or remove it by typing its label to confirm.")
            self.console.secrets.delete(profile_scope(profile_name), secret.entry)  # a keyring failure: no change
            self.console.profiles.store.replace(replace(
                profile, instance_secrets=tuple(s for s in profile.secrets_newest_first if s != secret),
                stored_secrets=tuple(n for n in profile.stored_secrets if n != secret.entry)))
            return secret

    def identify(self, profile_name: str, value: str) -> InstanceSecret | None:
        """Which of the profile's secrets `value` is (keyring reads, compared in memory), if any."""
        profile = self.console.profiles.store.get(profile_name)
        for secret in profile.secrets_newest_first:
            if self.console.secrets.get(profile_scope(profile_name), secret.entry) == value:
                return secret
        return None

    def record_made(self, record: BackupRecord, profile_name: str, value: str,
                    known: InstanceSecret | None = None) -> None:
        """A backup just made with `value`: record which of the profile's secrets that is (by label); `known` when
        the caller read it from the keyring itself, else it is looked for there."""
        try:
            secret = known or self.identify(profile_name, value)
            if secret is not None:
                self.console.catalog.remember_opened_with(record, profile_name, secret.entry, secret.label)
        except RecoveryError as exc:  # the backup is made; only the note of its secret is missing
            log.warning("Backup %s was made, but which secret made it is not recorded: %s", record.key, exc.message)

    def open_secret(self, ref: BackupRef, profiles: Iterable[str] | None = None,
                    reporter: Reporter | None = None) -> OpenedBy:
        """The secret that opens the backup: the one recorded for it first, then each profile's newest first,
        one key derivation per try; the catalog records the one found."""
        names = list(profiles) if profiles is not None else self.candidate_profiles(ref)
        store = self.console.profiles.store.load()
        opened = (self.console.catalog.opened_with([ref.record.target]).get((ref.record.target, ref.record.key))
                  if ref.record is not None else None)
        order: list[tuple[Profile, InstanceSecret]] = []
        for name in names:
            profile = store.get(name) or self.console.profiles.store.get(name)
            order += [(profile, s) for s in profile.secrets_newest_first]
        if opened is not None:
            order.sort(key=lambda item: (item[0].name, item[1].entry) != (opened.profile, opened.entry))
        if not order:
            raise SecretUnavailableError(
                f"No profile's instance secret can be tried on {ref.location}.",
                hint="Give the instance secret, or open the backup through the profile that made it.",
                cli_hint="Pass --secret-key-file, --secret-key-env or --secret-keyring, or --profile NAME.")
        with ref.open() as stream:
            header, commitment = read_preamble(stream)
        tried: set[str] = set()
        for profile, secret in order:
            if reporter is not None:
                reporter.token.raise_if_cancelled()
            value = self.console.secrets.get(profile_scope(profile.name), secret.entry)
            if not value or value in tried:
                continue
            tried.add(value)
            try:
                fmt.derive_keys(value, header).check(commitment)
            except WrongKeyError:
                continue
            if ref.record is not None:
                self.console.catalog.remember_opened_with(ref.record, profile.name, secret.entry, secret.label)
            return OpenedBy(profile.name, secret, value, len(tried))
        labels = ", ".join(f"'{s.label}' ({p.name})" for p, s in order)
        raise WrongKeyError(f"None of the instance secrets tried opens {ref.location}: {labels}.",
                            hint="Give the secret this backup was made with (from its escrow sheet). If you are sure "
                                 "one of these is right, check the file against its .sha256 sidecar.",
                            cli_hint="Pass the secret it was made with (--secret-key-file), or run "
                                     "`backup verify --without-key` to check the file against its sidecar.")

    def secret_opening(self, ref: BackupRef, given: str, reporter: Reporter | None = None,
                       profile: str | None = None) -> str:
        """`given` (typed, or a profile's newest from the keyring) if it opens the backup, else the secret of
        `profile` or of the candidate profiles that does (the one on record for the backup tried before `given`);
        one derivation each. When none does, or the backup cannot be read, `given`: its reader reports why."""
        try:
            names = list(dict.fromkeys(([profile] if profile else []) + self.candidate_profiles(ref)))
            if not names:
                return given
            recorded = self._recorded(ref)
            given_first = recorded is None or self._value_or_none(*recorded) == given
            if given_first and self._opens_ref(ref, given):
                self._remember_given(ref, names, given)
                return given
            return self.open_secret(ref, names, reporter).value
        except Cancelled:
            raise
        except RecoveryError:
            return given

    def _recorded(self, ref: BackupRef) -> tuple[str, str] | None:
        """(profile, keyring entry) of the secret the catalog records as opening this backup."""
        if ref.record is None:
            return None
        opened = self.console.catalog.opened_with([ref.record.target]).get((ref.record.target, ref.record.key))
        return None if opened is None else (opened.profile, opened.entry)

    def _value_or_none(self, profile: str, entry: str) -> str | None:
        try:
            return self.console.secrets.get(profile_scope(profile), entry)
        except SecretUnavailableError:
            return None

    @staticmethod
    def _opens_ref(ref: BackupRef, value: str) -> bool:
        """Whether `value` opens the backup: its preamble read, one key derivation."""
        return SecretRotation._opens_stream(ref.open, value)

    @staticmethod
    def _opens_stream(opener: Callable[[], ReadableFile], value: str) -> bool:
        """Whether `value` opens the container file `opener` opens: its preamble read, one key derivation."""
        with opener() as stream:
            header, commitment = read_preamble(stream)
        try:
            fmt.derive_keys(value, header).check(commitment)
        except WrongKeyError:
            return False
        return True

    def _remember_given(self, ref: BackupRef, profiles: list[str], value: str) -> None:
        if ref.record is None:
            return
        for name in profiles:
            secret = self.identify(name, value)
            if secret is not None:
                self.console.catalog.remember_opened_with(ref.record, name, secret.entry, secret.label)
                return

    def candidate_profiles(self, ref: BackupRef) -> list[str]:
        """The profiles whose secrets may open a catalog backup: the one recorded for it, then those whose target
        (or copy target) holds it. A file on this machine names none: its profile must be given."""
        if ref.record is None:
            return []
        profiles = self.console.profiles.store.load()
        opened = self.console.catalog.opened_with([ref.record.target]).get((ref.record.target, ref.record.key))
        names = [opened.profile] if opened is not None and opened.profile in profiles else []
        for name, profile in profiles.items():
            if ref.record.target in self._target_names(profile) and name not in names:
                names.append(name)
        return names

    def _target_names(self, profile: Profile) -> list[str]:
        """The configured names of the profile's target and copy targets (a folder given as a path resolved)."""
        names = []
        for target in (profile.target, *(profile.policy.secondary_targets if profile.policy else ())):
            if target:
                with contextlib.suppress(RecoveryError):
                    names.append(self.console.targets.resolve(target).name)
        return list(dict.fromkeys(names))

    def _kept(self, profile: Profile) -> tuple[list[BackupRecord], list[SetRecord]]:
        """The profile's backups and recovery sets in the catalog that a prune keeps (pinned, retained, or no rules
        at all), planned as a prune plans them; a damaged set, which a prune never deletes, among them."""
        from recovery_console.engine.prune import plan  # only a removal needs them, not a backup

        kept: list[BackupRecord] = []
        sets: list[SetRecord] = []
        rules = profile.policy.retention if profile.policy is not None else RetentionRules()
        for name in self._target_names(profile):
            try:
                plans = plan(self.console, profile.name, rules, [name])
            except RecoveryError:  # an unreachable target: the catalog as last listed
                plans = plan(self.console, profile.name, rules, [name], sync=False)
            for line in plans[0].kept:
                if isinstance(line.record, BackupRecord):
                    kept.append(line.record)
                elif isinstance(line.record, SetRecord) and line.record.state != UNFINISHED:
                    sets.append(line.record)
        opened = self.console.catalog.opened_with()
        seen = {(r.target, r.key) for r in kept} | {(r.target, r.key) for r in sets}
        pinned = {(p.target, p.key) for p in self.console.pins.all()}
        for record in self.console.catalog.records():  # held anywhere else: recorded as this profile's
            key = (record.target, record.key)
            if key not in seen and (o := opened.get(key)) is not None and o.profile == profile.name and (
                    profile.policy is None or key in pinned):
                kept.append(record)
                seen.add(key)
        for held in SetCatalog(self.console.catalog).records():  # a set of this profile held anywhere else
            key = (held.target, held.key)
            if key not in seen and held.manifest is not None and held.manifest.profile == profile.name and (
                    profile.policy is None or key in pinned):
                sets.append(held)
                seen.add(key)
        return kept, sets

    def _set_opens(self, record: SetRecord, value: str) -> bool:
        """Whether `value` opens the set's manifest (one key derivation); one that cannot be read counts as opened
        by it (nothing is removed on a guess)."""
        try:
            storage = self.console.storage(record.target)
            return self._opens_stream(lambda: storage.open_read(record.manifest_key), value)
        except Cancelled:
            raise
        except RecoveryError:
            return True

    def _opens(self, record: BackupRecord, value: str) -> bool:
        """Whether `value` opens a catalog backup; one that cannot be read counts as opened by it (nothing is
        removed on a guess)."""
        try:
            return self._opens_ref(BackupRef(record.key, record, self.console.storage(record.target)), value)
        except Cancelled:
            raise
        except RecoveryError:
            return True

def needed_name(record: Needed) -> str:
    """How a removal names what needs a secret: a backup by its short id, a set as 'set ' and its short id."""
    return f"set {record.short_id}" if isinstance(record, SetRecord) else record.short_id


def needed_count(needing: list[Needed]) -> str:
    """'2 kept backups and 1 kept set'."""
    sets = sum(isinstance(r, SetRecord) for r in needing)
    parts = [counted(len(needing) - sets, "kept backup")] if len(needing) > sets else []
    return " and ".join([*parts, counted(sets, "kept set")] if sets else parts)


def _find(profile: Profile, label: str) -> InstanceSecret:
    for secret in profile.secrets_newest_first:
        if secret.label == label:
            return secret
    labels = ", ".join(f"'{s.label}'" for s in profile.secrets_newest_first) or "none"
    raise NotFoundError(f"Profile '{profile.name}' has no instance secret labelled '{label}' (it has: {labels}).",
                        hint="Use a label exactly as the profile's list of secrets shows it.")


def _checked_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise UsageError(f"A secret's label must be 1 to {MAX_LABEL} printable characters.",
                         hint="Name it by when it was made, such as '2026-12 key'.")
    return label


def _free_label(profile: Profile, label: str) -> str:
    taken = {s.label for s in profile.secrets_newest_first}
    if label not in taken:
        return label
    n = 2
    while f"{label} {n}" in taken:
        n += 1
    return f"{label} {n}"


def _free_entry(profile: Profile, now: str) -> str:
    """`instance_secret` for a profile's first secret (what older releases read), else a new dated entry."""
    taken = set(profile.stored_secrets) | {s.entry for s in profile.secrets_newest_first}
    if LEGACY_SECRET_ENTRY not in taken:
        return LEGACY_SECRET_ENTRY
    stamp = re.sub(r"[^0-9TZ]", "", now) or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    entry, n = ENTRY_PREFIX + stamp, 2
    while entry in taken:
        entry, n = f"{ENTRY_PREFIX}{stamp}.{n}", n + 1
    return entry
