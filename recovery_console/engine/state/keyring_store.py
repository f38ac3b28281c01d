"""Secrets in the OS keyring: one keyring service per profile or target, never a file or argv.

Every secret the console holds (a profile's instance secret, an S3 secret key, an SMB password,
an SFTP password, private key or passphrase) goes through `SecretStore`, which talks to the
`keyring` library under the service name ``recovery-console:<scope>`` (scopes look like
``profile:prod`` or ``target:offsite``).

Rules this module enforces:

* Before the first write, `probe()` proves that a *secure* backend really works: it writes,
  reads back and deletes a random probe entry (a backend's priority alone says nothing about a
  locked or missing Secret Service). A read first asks a backend known to be secure directly:
  a secret it returns is proof enough; no answer falls back to the probe.
* Insecure backends (keyrings.alt's plaintext/file backends, ``keyring.backends.fail`` and
  ``keyring.backends.null``, and any backend this module does not know to be secure) are refused
  with a plain-words `SecretUnavailableError` — unless the user opted in explicitly
  (``SecretStore(allow_insecure=True)`` or ``RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING=1``). Even
  then every put/get emits an `InsecureKeyringWarning` and `SecretStore.insecure` is true, so
  the CLI/GUI can show it. There is no silent plaintext fallback: keyring's "chainer" backend is
  resolved into its members and only one backend is ever used.
* Secret values never appear in log records, warnings or exception messages (backend error
  texts are scrubbed of the value and exceptions are not chained to the backend's own).

Threading: keyring calls block (D-Bus round trips, unlock prompts) and some backends create
their own event loop. GUI code must call `probe()`, `put()`, `get()`, `delete()` and
`forget_scope()` off the GUI thread (a worker thread), never from a Qt slot directly.
A `SecretStore` may be used from one thread at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets as _random
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from recovery_console.engine.timing import timed
from recovery_console.errors import SecretUnavailableError, UsageError

SERVICE_PREFIX = "recovery-console"
PROBE_SCOPE = "probe"
INSECURE_ENV = "RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING"
INSTANCE_SECRET = "instance_secret"

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

# Backends that keep secrets encrypted by the OS / desktop session.
SECURE_BACKENDS = frozenset({
    "keyring.backends.SecretService.Keyring",
    "keyring.backends.libsecret.Keyring",
    "keyring.backends.kwallet.DBusKeyring",
    "keyring.backends.kwallet.DBusKeyringKWallet4",
    "keyring.backends.macOS.Keyring",
    "keyring.backends.Windows.WinVaultKeyring",
})
NO_BACKEND = "keyring.backends.fail.Keyring"
NULL_BACKEND = "keyring.backends.null.Keyring"
CHAINER_BACKEND = "keyring.backends.chainer.ChainerBackend"

_FIX_NO_BACKEND = (
    "Install and unlock a Secret Service (GNOME Keyring or KWallet; on a server: "
    "`apt install gnome-keyring dbus-x11` and run inside an unlocked D-Bus session), or, accepting "
    f"that secrets are then stored unencrypted on disk, set {INSECURE_ENV}=1 with a plaintext "
    "file backend (keyrings.alt)."
)
_FIX_INSECURE = (
    "Install and unlock a Secret Service (GNOME Keyring or KWallet), macOS Keychain or Windows "
    f"Credential Manager and select it; or, to accept unencrypted secrets on disk, set {INSECURE_ENV}=1."
)

SecretValue = str | Callable[[], str]
"""A secret as given (a GUI field's text), or a function that asks for it (a prompt, a file read) only once needed."""

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")


class InsecureKeyringWarning(UserWarning):
    """Secrets are being read or written through a keyring backend that does not encrypt them."""


def service_name(scope: str) -> str:
    """The keyring service for a scope such as 'target:offsite' or 'profile:prod'."""
    return f"{SERVICE_PREFIX}:{scope}"


def profile_scope(name: str) -> str:
    """The keyring scope of a profile, holding its instance secret under `INSTANCE_SECRET`."""
    if not _PROFILE_NAME.match(name or ""):
        raise UsageError(f"'{name}' is not a usable keyring name.",
                         hint="Use up to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.")
    return f"profile:{name}"


def reveal(secret: SecretValue) -> str:
    """The secret's text: a callable is asked now; an empty secret is refused."""
    value = secret() if callable(secret) else secret
    if not value:
        raise UsageError("An empty secret was given; nothing was stored.")
    return value


def backend_name(backend: KeyringBackend | type) -> str:
    cls = backend if isinstance(backend, type) else type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def allow_insecure_from_env(environ: dict[str, str] | None = None) -> bool:
    """The explicit opt-in to an insecure backend: RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING=1/true/yes."""
    value = (environ if environ is not None else os.environ).get(INSECURE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class KeyringStatus:
    """What `probe()` found: which backend, whether it encrypts secrets, and whether we will use it.

    `usable` means this store will read and write secrets now: a secure backend passed the round
    trip, or an insecure one passed it and the user opted in (then `secure` is False and `message`
    carries the warning). `message` says what happened in plain words, `hint` what to do.
    """

    backend: str
    secure: bool
    usable: bool
    message: str
    hint: str = ""
    insecure_opt_in: bool = False

    @property
    def warning(self) -> str | None:
        """The warning to show while an insecure backend is in use, else None."""
        return self.message if self.usable and not self.secure else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(backend: KeyringBackend) -> tuple[bool, str]:
    """(secure, why-not) for one backend, by what it is; nothing is written."""
    name = backend_name(backend)
    if name in SECURE_BACKENDS:
        return True, ""
    if name == NO_BACKEND:
        return False, "No OS keyring is available on this machine (no Secret Service, Keychain or Credential Manager)."
    if name == NULL_BACKEND:
        return False, "The OS keyring is disabled (keyring's null backend discards every secret)."
    module = type(backend).__module__
    lowered = name.lower()
    if module.startswith("keyrings.alt") or "plaintext" in lowered or ".file." in lowered:
        return False, f"The keyring backend {name} keeps secrets in a file on disk, not in an encrypted OS keyring."
    return False, f"The keyring backend {name} is not one this program knows to keep secrets encrypted."


def _candidates(backend: KeyringBackend) -> list[KeyringBackend]:
    """The backends a (possibly chained) keyring would write to, best first."""
    if backend_name(backend) == CHAINER_BACKEND:
        from keyring.backends import fail

        # keyring leaves KeyringBackend.__init__ unannotated
        return list(getattr(backend, "backends", [])) or [fail.Keyring()]  # type: ignore[no-untyped-call]
    return [backend]


def _scrub(text: str, *values: str | None) -> str:
    for value in values:
        if value:
            text = text.replace(value, "***")
    return text


def _describe(exc: BaseException, *values: str | None) -> str:
    """An exception as words safe to show: its type and message with any secret value removed."""
    text = _scrub(str(exc).strip(), *values)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SecretStore:
    """Reads and writes secrets through `keyring`; every failure becomes a SecretUnavailableError.

    `allow_insecure=None` reads the opt-in from the environment (RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING);
    pass True/False to decide explicitly (e.g. from a settings flag). `backend` pins one keyring
    backend; by default the one `keyring.get_keyring()` selects is probed (re-probed if it changes).

    Blocking: call every method off the GUI thread (see the module docstring).
    """

    def __init__(self, allow_insecure: bool | None = None, backend: KeyringBackend | None = None) -> None:
        self.allow_insecure = allow_insecure_from_env() if allow_insecure is None else bool(allow_insecure)
        self._pinned = backend
        self._probed_for: KeyringBackend | None = None
        self._status: KeyringStatus | None = None
        self._backend: KeyringBackend | None = None

    # -- probing ---------------------------------------------------------------------------------

    def _configured(self) -> KeyringBackend:
        if self._pinned is not None:
            return self._pinned
        try:
            import keyring  # on first use: the library costs about 0.1 s to import
            return keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - a broken keyringrc.cfg or backend import raises anything
            from keyring.backends import fail
            log.warning("The keyring library could not select a backend (%s)", type(exc).__name__)
            return fail.Keyring()  # type: ignore[no-untyped-call]  # KeyringBackend.__init__ is unannotated

    def probe(self, refresh: bool = False) -> KeyringStatus:
        """Check, with a real write/read/delete of a random probe entry, that a secure backend works."""
        configured = self._configured()
        if self._status is not None and not refresh and self._probed_for is configured:
            return self._status
        status, chosen = self._probe(configured)
        self._status, self._backend, self._probed_for = status, chosen, configured
        if status.usable and not status.secure:
            log.info("Insecure keyring backend in use by explicit opt-in: %s", status.backend)
        return status

    @property
    def status(self) -> KeyringStatus:
        return self.probe()

    @property
    def insecure(self) -> bool:
        """True while secrets go to a backend that does not encrypt them (the user opted in)."""
        status = self.probe()
        return status.usable and not status.secure

    @timed("keyring-probe")
    def _probe(self, configured: KeyringBackend) -> tuple[KeyringStatus, KeyringBackend | None]:
        candidates = _candidates(configured)
        first_failure: KeyringStatus | None = None
        insecure: list[tuple[KeyringBackend, str]] = []
        for backend in candidates:
            secure, why = classify(backend)
            if not secure:
                insecure.append((backend, why))
                continue
            problem = self._round_trip(backend)
            if problem is None:
                return KeyringStatus(backend=backend_name(backend), secure=True, usable=True,
                                     message=f"Secrets are kept in the OS keyring ({backend_name(backend)}).",
                                     insecure_opt_in=self.allow_insecure), backend
            if first_failure is None:
                first_failure = KeyringStatus(
                    backend=backend_name(backend), secure=True, usable=False,
                    message=f"The OS keyring ({backend_name(backend)}) is there but does not work: {problem}.",
                    hint="Unlock the keyring (log in to the desktop session, or run "
                         "`gnome-keyring-daemon --unlock` in this D-Bus session) and try again. " + _FIX_NO_BACKEND,
                    insecure_opt_in=self.allow_insecure)
        # No secure backend works: an insecure one only by explicit opt-in.
        for backend, _why in insecure:
            name = backend_name(backend)
            if name in (NO_BACKEND, NULL_BACKEND) or not self.allow_insecure:
                continue
            problem = self._round_trip(backend)
            if problem is None:
                return KeyringStatus(
                    backend=name, secure=False, usable=True,
                    message=f"WARNING: secrets are stored UNENCRYPTED by {name}, because {INSECURE_ENV} "
                            "(or the allow-insecure setting) opts in to it. Anyone who can read your files can "
                            "read them.",
                    hint="Install and unlock a Secret Service (GNOME Keyring or KWallet), macOS Keychain or Windows "
                         f"Credential Manager, store the secrets again, and unset {INSECURE_ENV}.",
                    insecure_opt_in=True), backend
        if first_failure is not None:
            return first_failure, None
        backend, why = insecure[0] if insecure else (configured, "No OS keyring is available.")
        name = backend_name(backend)
        if name in (NO_BACKEND, NULL_BACKEND):
            return KeyringStatus(backend=name, secure=False, usable=False,
                                 message=f"{why} Secrets cannot be stored.",
                                 hint=_FIX_NO_BACKEND, insecure_opt_in=self.allow_insecure), None
        if self.allow_insecure:
            problem = self._round_trip(backend)
            return KeyringStatus(backend=name, secure=False, usable=False,
                                 message=f"{why} It does not work either: {problem}.",
                                 hint=_FIX_INSECURE, insecure_opt_in=True), None
        return KeyringStatus(backend=name, secure=False, usable=False,
                             message=f"{why} Refusing to store secrets there.",
                             hint=_FIX_INSECURE, insecure_opt_in=False), None

    @staticmethod
    def _round_trip(backend: KeyringBackend) -> str | None:
        """None when a probe entry can be written, read back identically and deleted; else why not."""
        service = service_name(PROBE_SCOPE)
        entry = f"probe-{_random.token_hex(8)}"
        value = _random.token_urlsafe(24)
        step = "store a probe entry"
        try:
            backend.set_password(service, entry, value)
            step = "read the probe entry back"
            read = backend.get_password(service, entry)
            if read != value:
                with contextlib.suppress(Exception):
                    backend.delete_password(service, entry)
                return "a probe entry written to it did not read back (it discards secrets)"
            step = "delete the probe entry"
            backend.delete_password(service, entry)
        except Exception as exc:  # noqa: BLE001 - backends raise anything; the probe reports it
            return f"could not {step} ({_describe(exc, value)})"
        return None

    def _unprobed_secure(self) -> KeyringBackend | None:
        """Before any probe: the first backend the configured keyring would use, if it is a secure one."""
        if self._status is not None:
            return None
        first = _candidates(self._configured())[0]
        return first if classify(first)[0] else None

    def _require(self, action: str) -> KeyringBackend:
        status = self.probe()
        if not status.usable or self._backend is None:
            raise SecretUnavailableError(f"Cannot {action}: {status.message}", hint=status.hint)
        if not status.secure:
            warnings.warn(status.message, InsecureKeyringWarning, stacklevel=3)
        return self._backend

    # -- secrets ---------------------------------------------------------------------------------

    def put(self, scope: str, name: str, value: str) -> None:
        """Store a secret; refused unless a secure backend works (or the user opted in to an insecure one)."""
        if not isinstance(value, str) or not value:
            raise UsageError(f"Refusing to store an empty secret as '{name}' for {scope}.")
        backend = self._require(f"store the secret '{name}' for {scope}")
        try:
            backend.set_password(service_name(scope), name, value)
        except Exception as exc:  # noqa: BLE001 - backends raise anything; re-raised as one error
            raise SecretUnavailableError(f"The OS keyring refused to store the secret '{name}' for {scope}.",
                                         hint="Unlock or configure the keyring and try again.",
                                         detail=_describe(exc, value)) from None

    @timed("keyring-read")
    def get(self, scope: str, name: str) -> str | None:
        """The stored secret, or None when there is none.

        A secret read back from a backend known to be secure proves that backend works, so the first read
        tries it without the probe's write/read/delete round trips; an empty answer or a failure goes the
        probed way, which then reports what is wrong."""
        quick = self._unprobed_secure()
        if quick is not None:
            from keyring.errors import KeyringLocked

            try:
                value = quick.get_password(service_name(scope), name)
            except KeyringLocked as exc:  # the user dismissed the unlock prompt: the probe would only ask again
                raise SecretUnavailableError(f"The OS keyring is locked; the secret '{name}' of {scope} cannot be "
                                             "read.", hint="Unlock the keyring and try again.",
                                             detail=_describe(exc)) from None
            except Exception:  # noqa: BLE001,S110 - the probed way below reports the failure, scrubbed
                value = None
            if value:
                return value
        backend = self._require(f"read the secret '{name}' for {scope}")
        try:
            return backend.get_password(service_name(scope), name)
        except Exception as exc:  # noqa: BLE001 - backends raise anything; re-raised as one error
            raise SecretUnavailableError(f"The OS keyring could not be read for the secret '{name}' of {scope}.",
                                         hint="Unlock the keyring and try again.",
                                         detail=_describe(exc)) from None

    def delete(self, scope: str, name: str) -> bool:
        """Remove a secret; True if one was removed, False if there was none.

        Deleting works on an insecure backend even without the opt-in (removing is always safe).
        """
        from keyring.errors import PasswordDeleteError

        status = self.probe()
        backend = self._backend
        if backend is None and not status.secure:
            # An insecure backend the user did not opt in to: still let them clean it up.
            backend = next((b for b in _candidates(self._configured())
                            if backend_name(b) == status.backend and status.backend not in (NO_BACKEND, NULL_BACKEND)),
                           None)
        if backend is None:
            raise SecretUnavailableError(f"Cannot delete the secret '{name}' for {scope}: {status.message}",
                                         hint=status.hint)
        try:
            if backend.get_password(service_name(scope), name) is None:
                return False
            backend.delete_password(service_name(scope), name)
        except PasswordDeleteError:
            return False
        except Exception as exc:  # noqa: BLE001 - backends raise anything; re-raised as one error
            raise SecretUnavailableError(f"The OS keyring could not delete the secret '{name}' for {scope}.",
                                         hint="Unlock the keyring and try again.", detail=_describe(exc)) from None
        return True

    def forget_scope(self, scope: str, names: Iterable[str]) -> list[str]:
        """Remove every named secret of a scope; returns the names that were actually there."""
        return [name for name in names if self.delete(scope, name)]

    def lookup(self, scope: str) -> Callable[[str], str | None]:
        return lambda name: self.get(scope, name)
