"""Where the instance secret comes from: a file, an environment variable, the OS keyring, or a prompt.

Never from argv: command lines are visible to every user of the machine.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import SecretUnavailableError

KEYRING_SERVICE = "recovery-console"


def keyring_username(name: str) -> str:
    """The keyring entry holding a profile's instance secret."""
    return f"instance-secret:{name}"


@dataclass(frozen=True)
class SecretRequest:
    """The sources a user allowed, tried in this order: file, env var, keyring entry, interactive prompt."""

    file: Path | None = None
    env: str | None = None
    keyring_name: str | None = None
    allow_prompt: bool = True


def _from_file(path: Path) -> str:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise SecretUnavailableError(f"The secret file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretUnavailableError(f"The secret file {path} cannot be read: {exc}.") from exc
    secret = text[:-1] if text.endswith("\n") else text
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret:
        raise SecretUnavailableError(f"The secret file {path} is empty.")
    return secret


def _from_keyring(name: str) -> str:
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            secret = keyring.get_password(KEYRING_SERVICE, keyring_username(name))
        except KeyringError as exc:
            raise SecretUnavailableError(f"The OS keyring could not be read: {exc}.",
                                         hint="Unlock the keyring, or pass --secret-key-file.") from exc
    except ImportError as exc:  # pragma: no cover - keyring is a hard dependency
        raise SecretUnavailableError("The keyring library is not installed.") from exc
    if not secret:
        raise SecretUnavailableError(f"The OS keyring holds no instance secret for '{name}'.",
                                     hint="Store it with `profile create`, or pass --secret-key-file.")
    return secret


def obtain_secret(request: SecretRequest, prompt: Callable[[str], str] = getpass.getpass) -> str:
    if request.file is not None:
        return _from_file(request.file)
    if request.env is not None:
        value = os.environ.get(request.env)
        if not value:
            raise SecretUnavailableError(f"The environment variable {request.env} is not set or is empty.")
        return value
    if request.keyring_name is not None:
        return _from_keyring(request.keyring_name)
    if request.allow_prompt and sys.stdin is not None and sys.stdin.isatty():
        value = prompt("Instance secret: ")
        if value:
            return value
    raise SecretUnavailableError(
        "This needs the instance secret, and none was given.",
        hint="Pass --secret-key-file FILE, --secret-key-env VAR or --secret-keyring NAME, or run in a terminal to be asked.",
    )
