"""Secrets in the OS keyring: one keyring service per profile or target, never a file or argv."""

from __future__ import annotations

from typing import Callable

import keyring
from keyring.errors import KeyringError, PasswordDeleteError

from .errors import SecretUnavailableError

SERVICE_PREFIX = "recovery-console"


def service_name(scope: str) -> str:
    """The keyring service for a scope such as 'target:offsite' or 'profile:prod'."""
    return f"{SERVICE_PREFIX}:{scope}"


class SecretStore:
    """Reads and writes secrets through `keyring`; every failure becomes a SecretUnavailableError."""

    def put(self, scope: str, name: str, value: str) -> None:
        try:
            keyring.set_password(service_name(scope), name, value)
        except KeyringError as exc:
            raise SecretUnavailableError(f"The OS keyring refused to store a secret: {exc}.",
                                         hint="Unlock or configure the keyring and try again.") from exc

    def get(self, scope: str, name: str) -> str | None:
        try:
            return keyring.get_password(service_name(scope), name)
        except KeyringError as exc:
            raise SecretUnavailableError(f"The OS keyring could not be read: {exc}.",
                                         hint="Unlock the keyring and try again.") from exc

    def delete(self, scope: str, name: str) -> None:
        try:
            keyring.delete_password(service_name(scope), name)
        except PasswordDeleteError:
            return
        except KeyringError as exc:
            raise SecretUnavailableError(f"The OS keyring could not delete a secret: {exc}.") from exc

    def lookup(self, scope: str) -> Callable[[str], str | None]:
        return lambda name: self.get(scope, name)
