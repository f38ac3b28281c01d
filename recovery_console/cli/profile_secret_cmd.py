"""`recovery-console profile secret …`: a profile's instance secrets in rotation (docs/SECRETS.md section 6).

    profile secret list PROFILE                      its secrets, newest first (the first makes new backups)
    profile secret add PROFILE [--label L] [--from-file F | --from-env VAR | --enter]
                                                     a new newest secret: generated (shown once) unless given
    profile secret remove PROFILE LABEL [--force --confirm LABEL]
                                                     refused while a kept backup needs it, unless forced
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recovery_console.cli.common import add_json, console, emit, job
from recovery_console.engine.state.secret_sources import normalise_secret, read_secret_file
from recovery_console.errors import ExitCode, SecretUnavailableError, UsageError

if TYPE_CHECKING:
    from recovery_console.engine.secret_rotation import SecretRotation


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secret = commands.add_parser("secret", help="a profile's instance secrets: list, add (rotate), remove")
    sub = secret.add_subparsers(dest="secret_command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="the profile's instance secrets, newest first")
    listing.add_argument("profile")
    add_json(listing)
    listing.set_defaults(func=cmd_list)

    add = sub.add_parser("add", help="add a newest instance secret (generated and shown once, unless given)")
    add.add_argument("profile")
    add.add_argument("--label", help="what to call it (default: '<year>-<month> key')")
    source = add.add_mutually_exclusive_group()
    source.add_argument("--from-file", type=Path, metavar="FILE", help="read the secret from FILE ('-': stdin)")
    source.add_argument("--from-env", metavar="VAR", help="read the secret from environment variable VAR")
    source.add_argument("--enter", action="store_true", help="type the secret when asked (twice)")
    add_json(add)
    add.set_defaults(func=cmd_add)

    remove = sub.add_parser("remove", help="remove an instance secret no kept backup needs")
    remove.add_argument("profile")
    remove.add_argument("label", help="the secret's label as `profile secret list` shows it")
    remove.add_argument("--force", action="store_true", help="remove it even though kept backups need it")
    remove.add_argument("--confirm", metavar="LABEL", help="with --force: the label typed again to confirm")
    add_json(remove)
    remove.set_defaults(func=cmd_remove)


def _rotation() -> SecretRotation:
    from recovery_console.engine.secret_rotation import SecretRotation

    return SecretRotation(console())


def cmd_list(args: argparse.Namespace) -> int:
    secrets = _rotation().secrets(args.profile)
    lines = [f"{'LABEL':<24}  {'ADDED (UTC)':<20}  USE"] + [
        f"{s.label:<24}  {(s.created or 'before rotation'):<20}  {'new backups' if i == 0 else 'opens older backups'}"
        for i, s in enumerate(secrets)]
    if not secrets:
        lines = [f"Profile '{args.profile}' has no instance secret; add one with `profile secret add {args.profile}`."]
    emit(args, {"profile": args.profile, "secrets": [s.to_dict() for s in secrets]}, lines)
    return ExitCode.OK


def _given_secret(args: argparse.Namespace) -> str | None:
    """The secret the user gave, or None to generate one."""
    if args.from_file is not None:
        if str(args.from_file) == "-":
            value = normalise_secret(sys.stdin.read())
            if not value:
                raise SecretUnavailableError("Standard input held no secret.")
            return value
        return read_secret_file(args.from_file)
    if args.from_env is not None:
        value = normalise_secret(os.environ.get(args.from_env, ""))
        if not value:
            raise SecretUnavailableError(f"The environment variable {args.from_env} is not set or is empty.")
        return value
    if not args.enter:
        return None
    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError("--enter needs a terminal to ask on.", hint="Pass --from-file FILE or --from-env VAR.")
    first = getpass.getpass(f"New instance secret for '{args.profile}': ")
    if getpass.getpass("Again, to confirm: ") != first:
        raise UsageError("The two entries differ; nothing was stored.")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    added = _rotation().add(args.profile, args.label, _given_secret(args))
    lines = [f"Instance secret '{added.secret.label}' added to profile '{args.profile}': new backups use it; "
             "older backups still open with the secrets listed after it."]
    if added.generated is not None:
        groups = added.generated.split("-")
        lines += ["Write it down now; it is shown only this once:", "",
                  *(f"  {n:>2}  {group}" for n, group in enumerate(groups, 1)), ""]
    emit(args, {"profile": args.profile, **added.secret.to_dict(), "secret": added.generated}, lines)
    return ExitCode.OK


def cmd_remove(args: argparse.Namespace) -> int:
    if args.confirm is not None and not args.force:
        raise UsageError("--confirm goes with --force.", hint="Without --force a secret a backup needs is kept.")
    with job(args) as reporter:
        removed = _rotation().remove(args.profile, args.label, force=args.force, confirm=args.confirm,
                                     reporter=reporter)
    emit(args, {"profile": args.profile, "removed": removed.to_dict()},
         [f"Instance secret '{removed.label}' removed from profile '{args.profile}' and the OS keyring."])
    return ExitCode.OK
