"""`target add smb NAME --host H --share S --username U …`: an SMB3 share (Windows, Samba, a NAS), encrypted only.

The password never goes on the command line: --password-file, --password-env, or a prompt on a terminal.
A real round trip (list, write, read back, delete) must pass before the target is saved.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from recovery_console.cli.common import add_json
from recovery_console.cli.target_cmd import finish_add, parse_size
from recovery_console.engine.state.secret_sources import read_secret_file
from recovery_console.engine.state.target_options import check_new_target, smb_target
from recovery_console.errors import SecretUnavailableError, StorageError
from recovery_console.models.target import SMB_DEFAULT_DOMAIN, SMB_DEFAULT_PORT


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (1-65535)")
    return value


def register(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser(
        "smb", help="an SMB3 share (Windows, Samba, NAS); encrypted sessions only",
        description="Add an SMB3 share as a target. The server must negotiate SMB3 encryption; a round trip "
                    "(list, write, read back, delete) must pass before the target is saved.",
    )
    parser.add_argument("name")
    parser.add_argument("--host", required=True, help="server name or address")
    parser.add_argument("--port", type=_port, default=SMB_DEFAULT_PORT, help="TCP port (default 445)")
    parser.add_argument("--share", required=True, help="the share's name, such as backups")
    parser.add_argument("--username", required=True, help="user name; DOMAIN\\user is accepted")
    parser.add_argument("--domain", help=f"domain or workgroup (default {SMB_DEFAULT_DOMAIN})")
    parser.add_argument("--directory", default="", help="an existing folder inside the share (default: its root)")
    group = parser.add_argument_group("password (never on the command line)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--password-file", type=Path, metavar="FILE", help="read the password from FILE")
    source.add_argument("--password-env", metavar="VAR", help="read the password from environment variable VAR")
    parser.add_argument("--quota", type=parse_size, help="refuse backups beyond this size, e.g. 500G")
    add_json(parser)
    parser.set_defaults(func=cmd_add)


def read_password(args: argparse.Namespace) -> str:
    """From --password-file, --password-env, or an interactive prompt; never from argv."""
    if args.password_file is not None:
        return read_secret_file(args.password_file)
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise SecretUnavailableError(f"The environment variable {args.password_env} is not set or is empty.",
                                         hint="Export the password in that variable, or use --password-file.")
        return value
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(f"Password for {args.username} on \\\\{args.host}\\{args.share}: ")
        if value:
            return value
    raise SecretUnavailableError("No password was given for the SMB target.",
                                 hint="Use --password-file FILE or --password-env VAR (or run it on a terminal "
                                      "to be asked).")


def cmd_add(args: argparse.Namespace) -> int:
    from recovery_console.engine.storage.smb_errors import SmbEncryptionUnavailableError

    new = smb_target(args.name, host=args.host, share=args.share, username=args.username,
                     password=lambda: read_password(args), domain=args.domain, port=args.port,
                     directory=args.directory, quota=args.quota)
    report = check_new_target(new)
    if not report.ok:
        failed = next(step for step in report.steps if not step.ok)
        error_type = (SmbEncryptionUnavailableError
                      if "negotiate SMB3 encryption" in failed.message else StorageError)
        raise error_type(f"The SMB target was not saved: the {failed.step} step of the test failed. "
                         f"{failed.message}", hint=failed.hint)
    return finish_add(args, new)
