"""`target add sftp NAME --host H --username U --directory D …`: a directory on an SFTP server.

Secrets never come from argv: a password or passphrase is read from a file, an environment
variable, or an interactive prompt; a private key from its file. The server's host key is
trusted on first use only after the user confirms its fingerprint (`--accept-host-key` or a
"yes" at the prompt), and the target is saved only after a real round trip succeeded.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recovery_console.cli.common import add_json
from recovery_console.cli.target_cmd import finish_add, parse_size
from recovery_console.engine.state.keyring_store import SecretValue
from recovery_console.engine.state.secret_sources import read_secret_file
from recovery_console.engine.state.target_options import (
    check_new_target,
    pin_host_key,
    private_key_needs_passphrase,
    read_private_key,
    sftp_target,
)
from recovery_console.errors import SecretUnavailableError, StorageError, UsageError
from recovery_console.models.target import SFTP_DEFAULT_PORT

if TYPE_CHECKING:
    from recovery_console.engine.storage import sftp_hostkeys


def register(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("sftp", help="a directory on an SFTP (SSH) server",
                              description="Add an SFTP target. Secrets are never taken from the command line.")
    parser.add_argument("name")
    parser.add_argument("--host", required=True, help="server host name or address")
    parser.add_argument("--port", type=int, default=SFTP_DEFAULT_PORT, help="SSH port (default 22)")
    parser.add_argument("--username", required=True, help="login name on the server")
    parser.add_argument("--directory", required=True,
                        help="working directory on the server (absolute, or relative to the login's home); must exist")
    auth = parser.add_argument_group("authentication (one method; secrets never on the command line)")
    method = auth.add_mutually_exclusive_group()
    method.add_argument("--password-file", type=Path, metavar="FILE", help="read the password from FILE")
    method.add_argument("--password-env", metavar="VAR", help="read the password from environment variable VAR")
    method.add_argument("--private-key-file", type=Path, metavar="FILE",
                        help="log in with this OpenSSH private key (Ed25519, ECDSA or RSA)")
    phrase = auth.add_mutually_exclusive_group()
    phrase.add_argument("--passphrase-file", type=Path, metavar="FILE", help="the private key's passphrase, from FILE")
    phrase.add_argument("--passphrase-env", metavar="VAR", help="the private key's passphrase, from variable VAR")
    parser.add_argument("--accept-host-key", metavar="FINGERPRINT",
                        help="trust the server's host key if its fingerprint is this "
                             "(SHA256:… as ssh-keygen -lf prints it)")
    parser.add_argument("--quota", type=parse_size, help="refuse backups beyond this size, e.g. 500G")
    add_json(parser)
    parser.set_defaults(func=cmd_add)


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _from_env(var: str, what: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise SecretUnavailableError(f"The environment variable {var} (the {what}) is not set or is empty.")
    return value


def _prompt(what: str) -> str:
    value = getpass.getpass(f"{what}: ")
    if not value:
        raise SecretUnavailableError(f"No {what.lower()} was entered.")
    return value


def _private_key(args: argparse.Namespace) -> tuple[str, str | None]:
    """The private key's text and its passphrase (from a file, a variable, or asked when the key needs one)."""
    key_text = read_private_key(args.private_key_file)
    if args.passphrase_file is not None:
        return key_text, read_secret_file(args.passphrase_file)
    if args.passphrase_env is not None:
        return key_text, _from_env(args.passphrase_env, "passphrase")
    if private_key_needs_passphrase(key_text):
        if not _interactive():
            raise SecretUnavailableError(f"The private key {args.private_key_file} is protected by a passphrase.",
                                         hint="Give it with --passphrase-file FILE or --passphrase-env VAR.")
        return key_text, _prompt("Passphrase of the private key")
    return key_text, None


def _password(args: argparse.Namespace) -> SecretValue | None:
    """Where the password comes from, read only once the rest of the target is valid."""
    if args.password_file is not None:
        return lambda: read_secret_file(args.password_file)
    if args.password_env is not None:
        return lambda: _from_env(args.password_env, "password")
    if args.private_key_file is not None:
        return None
    if _interactive():
        return lambda: _prompt(f"Password for {args.username}@{args.host}")
    raise UsageError("No way to log in was given.",
                     hint="Use --password-file FILE, --password-env VAR or --private-key-file FILE.")


def _passphrase_only(args: argparse.Namespace) -> str | None:
    """A passphrase given without a key: read, so that the engine can refuse it."""
    if args.passphrase_file is not None:
        return read_secret_file(args.passphrase_file)
    if args.passphrase_env is not None:
        return _from_env(args.passphrase_env, "passphrase")
    return None


def confirm_host_key(args: argparse.Namespace, found: sftp_hostkeys.HostKeyInfo) -> None:
    """Trust on first use: the user's fingerprint must match, or they type 'yes' at a terminal."""
    from recovery_console.engine.storage import sftp_hostkeys

    if args.accept_host_key:
        expected = sftp_hostkeys.normalize_fingerprint(args.accept_host_key)
        if expected != found.fingerprint_sha256:
            raise sftp_hostkeys.HostKeyChangedError(
                f"The host key of {args.host}:{args.port} does not match the fingerprint you gave. "
                f"You gave: {expected}. The server presents: {found.key_type} {found.fingerprint_sha256}. "
                "The target was not added.",
                hint="Check the fingerprint with the server's administrator; a mismatch can mean the "
                     "connection is being intercepted, or that you copied the wrong host's fingerprint.",
                expected=expected, actual=found)
        return
    if _interactive():
        print(f"The server {args.host}:{args.port} presents this host key:\n"
              f"    {found.key_type} {found.fingerprint_sha256}\n"
              "Compare it with the fingerprint the server's administrator gives you "
              "(on the server: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub).", file=sys.stderr)
        try:
            answer = input("Trust this host key? Type 'yes' to confirm: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() == "yes":
            return
        raise UsageError("The host key was not confirmed; the target was not added.",
                         hint=f"Run again and type 'yes', or pass --accept-host-key {found.fingerprint_sha256}.")
    raise sftp_hostkeys.untrusted_error(args.host, args.port, found)


def cmd_add(args: argparse.Namespace) -> int:
    from recovery_console.engine.storage import sftp_hostkeys

    key_text, passphrase = _private_key(args) if args.private_key_file is not None else (None, _passphrase_only(args))
    new = sftp_target(args.name, host=args.host, port=args.port, username=args.username, directory=args.directory,
                      password=_password(args), private_key=key_text, passphrase=passphrase, quota=args.quota)
    found = sftp_hostkeys.fetch_host_key(args.host, args.port)
    confirm_host_key(args, found)
    new = pin_host_key(new, found)
    report = check_new_target(new)
    if not report.ok:
        failed = next(step for step in report.steps if not step.ok)
        raise StorageError(f"Test connection failed at the '{failed.step}' step: {failed.message} "
                           "The target was not added.", hint=failed.hint)
    return finish_add(args, new)
