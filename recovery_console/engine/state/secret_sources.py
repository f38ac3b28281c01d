"""Where the instance secret comes from: a file, an environment variable, the OS keyring, or a prompt.

Never from argv: command lines are visible to every user of the machine.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.state import grouped_secret
from recovery_console.engine.state.keyring_store import INSTANCE_SECRET, SecretStore, profile_scope
from recovery_console.errors import SecretUnavailableError

MAX_SECRET_BYTES = 4096  # far above any real secret; a device or a huge file is refused, not read whole

# A profile's instance secret lives in the OS keyring through SecretStore: service
# "recovery-console:profile:<NAME>", entry "instance_secret" (see keyring_store.py).


@dataclass(frozen=True)
class SecretRequest:
    """The sources a user allowed, tried in this order: file, env var, keyring entry, interactive prompt."""

    file: Path | None = None
    env: str | None = None
    keyring_name: str | None = None
    allow_prompt: bool = True


def read_secret_file(path: Path) -> str:
    """A secret kept in a file: its text without one trailing newline; never empty."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SecretUnavailableError(f"The secret file {path} does not exist.") from None
    except UnicodeDecodeError:  # its message would quote a byte of the secret
        raise SecretUnavailableError(f"The secret file {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise SecretUnavailableError(f"The secret file {path} cannot be read: {exc.strerror or exc}.") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise SecretUnavailableError(f"The secret file {path} holds more than {MAX_SECRET_BYTES} bytes: "
                                     "it is not a secret file.", hint="Name the file that holds only the secret.")
    secret = normalise_secret(text)
    if not secret:
        raise SecretUnavailableError(f"The secret file {path} is empty.")
    return secret


def normalise_secret(text: str) -> str:
    """Every source's one rule (docs/FORMAT.md 5): drop one trailing LF, then one trailing CR; nothing else."""
    secret = text[:-1] if text.endswith("\n") else text
    return secret[:-1] if secret.endswith("\r") else secret


def store_instance_secret(name: str, secret: str, store: SecretStore | None = None) -> None:
    """Keep a profile's instance secret in the OS keyring (refused when no secure keyring works)."""
    (store or SecretStore()).put(profile_scope(name), INSTANCE_SECRET, secret)


def _from_keyring(name: str, store: SecretStore | None = None) -> str:
    secret = normalise_secret((store or SecretStore()).get(profile_scope(name), INSTANCE_SECRET) or "")
    if not secret:
        raise SecretUnavailableError(f"The OS keyring holds no instance secret for '{name}'.",
                                     hint=f"Store it in the keyring by editing profile '{name}', or give it "
                                          "when asked.",
                                     cli_hint=f"Store it with `recovery-console keyring set-secret {name}`, "
                                              "or pass --secret-key-file.")
    return secret


def obtain_secret(request: SecretRequest, prompt: Callable[[str], str] = getpass.getpass,
                  store: SecretStore | None = None) -> str:
    """The instance secret from the first source the request names (keyring reads block: not on a GUI thread);
    a grouped secret is checked group by group first (grouped_secret.py), any other used as given."""
    return grouped_secret.canonical(_obtain(request, prompt, store))


def _obtain(request: SecretRequest, prompt: Callable[[str], str], store: SecretStore | None) -> str:
    if request.file is not None:
        return read_secret_file(request.file)
    if request.env is not None:
        value = normalise_secret(os.environ.get(request.env, ""))
        if not value:
            raise SecretUnavailableError(f"The environment variable {request.env} is not set or is empty.")
        return value
    if request.keyring_name is not None:
        return _from_keyring(request.keyring_name, store)
    if request.allow_prompt and sys.stdin is not None and sys.stdin.isatty():
        value = normalise_secret(prompt("Instance secret: "))
        if value:
            return value
    raise SecretUnavailableError(
        "This needs the instance secret, and none was given.",
        hint="Give the instance secret when asked, or store it in the OS keyring with the profile.",
        cli_hint="Pass --secret-key-file FILE, --secret-key-env VAR or --secret-keyring NAME, or run in a terminal "
                 "to be asked.",
    )
