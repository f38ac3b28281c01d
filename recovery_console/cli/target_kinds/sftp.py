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
from recovery_console.engine.state.secret_sources import read_secret_file
from recovery_console.engine.storage.round_trip import round_trip
from recovery_console.errors import SecretUnavailableError, StorageError, UsageError
from recovery_console.models.target import SFTP_DEFAULT_PORT, TargetConfig

if TYPE_CHECKING:
    from recovery_console.engine.storage import sftp_hostkeys


def register(kinds: argparse._SubParsersAction) -> None:
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


def _secrets_from(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """('password' | 'key', the secrets to keep in the keyring) from the options, env or a prompt."""
    from recovery_console.engine.storage import (
        sftp_keys,  # imported here so commands that need no SFTP start without paramiko
    )

    if args.private_key_file is not None:
        try:
            key_text = args.private_key_file.read_text("utf-8")
        except OSError as exc:
            raise SecretUnavailableError(f"The private key file {args.private_key_file} cannot be read: "
                                         f"{exc.strerror or exc}.") from None
        except UnicodeDecodeError:
            raise SecretUnavailableError(f"{args.private_key_file} is not a text private key file.") from None
        values = {"private_key": key_text}
        if args.passphrase_file is not None:
            values["passphrase"] = read_secret_file(args.passphrase_file)
        elif args.passphrase_env is not None:
            values["passphrase"] = _from_env(args.passphrase_env, "passphrase")
        elif sftp_keys.private_key_needs_passphrase(key_text):
            if not _interactive():
                raise SecretUnavailableError(f"The private key {args.private_key_file} is protected by a passphrase.",
                                             hint="Give it with --passphrase-file FILE or --passphrase-env VAR.")
            values["passphrase"] = _prompt("Passphrase of the private key")
        sftp_keys.load_private_key(key_text, values.get("passphrase"))  # a wrong passphrase is reported before connecting
        return "key", values
    if args.passphrase_file is not None or args.passphrase_env is not None:
        raise UsageError("A passphrase belongs to a private key; give --private-key-file too.")
    if args.password_file is not None:
        return "password", {"password": read_secret_file(args.password_file)}
    if args.password_env is not None:
        return "password", {"password": _from_env(args.password_env, "password")}
    if _interactive():
        return "password", {"password": _prompt(f"Password for {args.username}@{args.host}")}
    raise UsageError("No way to log in was given.",
                     hint="Use --password-file FILE, --password-env VAR or --private-key-file FILE.")


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
    from recovery_console.engine.storage import sftp, sftp_hostkeys

    auth, values = _secrets_from(args)
    found = sftp_hostkeys.fetch_host_key(args.host, args.port)
    confirm_host_key(args, found)
    options = {"host": args.host, "port": args.port, "username": args.username, "auth": auth,
               "directory": args.directory, "host_key_fingerprint": found.fingerprint_sha256,
               "host_key_type": found.key_type}
    config = TargetConfig(name=args.name, kind="sftp", options=options, quota=args.quota)
    storage = sftp.SftpStorage(args.name, args.host, args.username, args.directory, port=args.port, auth=auth,
                          host_key_fingerprint=found.fingerprint_sha256, host_key_type=found.key_type,
                          secrets=values.get, quota=args.quota)
    try:
        report = round_trip(storage)
    finally:
        storage.close()
    if not report.ok:
        failed = next(step for step in report.steps if not step.ok)
        raise StorageError(f"Test connection failed at the '{failed.step}' step: {failed.message} "
                           "The target was not added.", hint=failed.hint)
    return finish_add(args, config, values)
