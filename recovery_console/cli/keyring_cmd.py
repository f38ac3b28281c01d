"""`recovery-console keyring …`: check the OS keyring, and keep or forget a profile's instance secret.

    keyring status [--json]                      which backend, secure?, usable?, what to do
    keyring set-secret NAME [--from-file F | --from-env VAR] [--replace]
                                                 store NAME's instance secret (prompted when no source given)
    keyring forget NAME [--yes]                  remove NAME's instance secret
    keyring generate-secret NAME [--sheet FILE.html|FILE.pdf] [--replace]
                                                 a new 256-bit secret in checked groups, stored and shown once

The secret itself is never taken from argv: a file ('-' for standard input), an environment
variable, or an interactive prompt (asked twice).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.state import grouped_secret
from recovery_console.engine.state.keyring_store import KeyringStatus, SecretStore
from recovery_console.engine.state.secret_sources import read_secret_file
from recovery_console.errors import ExitCode, SecretUnavailableError, UsageError


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="keyring_command", required=True, metavar="COMMAND")

    status = commands.add_parser("status", help="show which keyring backend is used and whether it is secure")
    add_json(status)
    status.set_defaults(func=cmd_status)

    put = commands.add_parser("set-secret", help="store a profile's instance secret in the OS keyring "
                                                 "(prompted when neither --from-file nor --from-env is given)")
    put.add_argument("name", help="the keyring name later given as --secret-keyring NAME")
    source = put.add_mutually_exclusive_group()
    source.add_argument("--from-file", type=Path, metavar="FILE",
                        help="read the secret from FILE ('-': standard input)")
    source.add_argument("--from-env", metavar="VAR", help="read the secret from environment variable VAR")
    put.add_argument("--replace", action="store_true",
                     help="overwrite a secret already stored under NAME (backups made with the old one "
                          "then need the old secret from elsewhere)")
    add_json(put)
    put.set_defaults(func=cmd_set_secret)

    generate = commands.add_parser("generate-secret", help="generate a 256-bit instance secret, store it in the "
                                                           "OS keyring and show it once in checked groups")
    generate.add_argument("name", help="the keyring name later given as --secret-keyring NAME")
    generate.add_argument("--sheet", type=Path, metavar="FILE",
                          help="also write an escrow sheet to print and lock away (.html or .pdf)")
    generate.add_argument("--replace", action="store_true",
                          help="overwrite a secret already stored under NAME (backups made with the old one "
                               "then need the old secret from elsewhere)")
    add_json(generate)
    generate.set_defaults(func=cmd_generate_secret)

    forget = commands.add_parser("forget", help="remove a profile's instance secret from the OS keyring")
    forget.add_argument("name")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_json(forget)
    forget.set_defaults(func=cmd_forget)


def store() -> SecretStore:
    """The store the commands use (tests may replace this function)."""
    return SecretStore()


def _status_lines(status: KeyringStatus) -> list[str]:
    lines = [
        f"Backend   {status.backend}",
        f"Secure    {'yes' if status.secure else 'NO'}",
        f"Usable    {'yes' if status.usable else 'no'}",
        f"Status    {status.message}",
    ]
    if status.hint:
        lines.append(f"What to do: {status.hint}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when secrets can be stored, 8 (no secret available) when not."""
    status = store().probe(refresh=True)
    emit(args, status.as_dict(), _status_lines(status))
    return ExitCode.OK if status.usable else ExitCode.SECRET_UNAVAILABLE


def _read_new_secret(args: argparse.Namespace) -> str:
    """The secret to store; a grouped one is checked group by group and kept as generated."""
    return grouped_secret.canonical(_read_given_secret(args))


def _read_given_secret(args: argparse.Namespace) -> str:
    if args.from_file is not None:
        if str(args.from_file) == "-":
            text = sys.stdin.read()
            value = text[:-1] if text.endswith("\n") else text
            value = value[:-1] if value.endswith("\r") else value
            if not value:
                raise SecretUnavailableError("Standard input held no secret.")
            return value
        return read_secret_file(args.from_file)
    if args.from_env is not None:
        value = os.environ.get(args.from_env)
        if not value:
            raise SecretUnavailableError(f"The environment variable {args.from_env} is not set or is empty.")
        return value
    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError("No secret given and no terminal to ask for one.",
                         hint="Pass --from-file FILE (or '-' for standard input) or --from-env VAR.")
    first = getpass.getpass(f"Instance secret for '{args.name}': ")
    if not first:
        raise UsageError("An empty secret was entered; nothing was stored.")
    if getpass.getpass("Again, to confirm: ") != first:
        raise UsageError("The two entries differ; nothing was stored.")
    return first


def cmd_set_secret(args: argparse.Namespace) -> int:
    status = console().profiles.set_instance_secret(args.name, lambda: _read_new_secret(args),
                                                    replace_existing=args.replace)
    lines = [f"Instance secret stored in the OS keyring under '{args.name}' ({status.backend}).",
             f"Use it with --secret-keyring {args.name}."]
    if status.warning:
        print(status.warning, file=sys.stderr)
    emit(args, {"name": args.name, "stored": True, "backend": status.backend, "secure": status.secure}, lines)
    return ExitCode.OK


def _check_sheet_path(path: Path | None) -> None:
    """Refuse a sheet that cannot be written before a secret is generated and stored."""
    if path is None:
        return
    if path.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise UsageError(f"{path}: an escrow sheet is written as .html or .pdf.", hint="Name the file FILE.html or "
                                                                                      "FILE.pdf.")
    if path.exists():
        raise UsageError(f"{path} already exists; nothing was generated.", hint="Choose another file for the sheet.")
    if not path.absolute().parent.is_dir():
        raise UsageError(f"The folder {path.absolute().parent} does not exist; nothing was generated.")


def cmd_generate_secret(args: argparse.Namespace) -> int:
    from recovery_console.engine.escrow_sheet import generate_instance_secret, write_sheet_html

    _check_sheet_path(args.sheet)
    sheet, status = generate_instance_secret(console().profiles, args.name, replace_existing=args.replace)
    if status.warning:
        print(status.warning, file=sys.stderr)
    if args.sheet is not None:
        if args.sheet.suffix.lower() == ".pdf":
            from recovery_console.ui.escrow_pdf import write_sheet_pdf  # Qt, loaded only for a PDF

            write_sheet_pdf(sheet, args.sheet)
        else:
            write_sheet_html(sheet, args.sheet)
    numbered = [f"  {n:>2}  {group}" for n, group in enumerate(sheet.groups, 1)]
    lines = [f"A new instance secret is stored in the OS keyring under '{args.name}' ({status.backend}).",
             "Write it down now; it is shown only this once:", "", *numbered, "",
             f"Typed back: {sheet.secret}  (spaces or dashes between groups, any case)",
             "The last character of each group is a check: a mistyped group is named before the secret is tried."]
    if args.sheet is not None:
        lines.append(f"Escrow sheet written to {args.sheet}: print it, lock it away, then delete the file.")
    emit(args, {"name": args.name, "stored": True, "secret": sheet.secret, "groups": sheet.groups,
                "sheet": str(args.sheet) if args.sheet else None, "backend": status.backend,
                "secure": status.secure}, lines)
    return ExitCode.OK


def cmd_forget(args: argparse.Namespace) -> int:
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():
            print("Refusing to forget a secret without confirmation: pass --yes.", file=sys.stderr)
            return ExitCode.USAGE
        answer = input(f"Remove the instance secret '{args.name}' from the OS keyring? Backups made with it "
                       "cannot be opened without another copy of it. Type 'forget' to confirm: ")
        if answer.strip() != "forget":
            print("Nothing removed.", file=sys.stderr)
            return ExitCode.USAGE
    removed = console().profiles.forget_instance_secret(args.name)
    emit(args, {"name": args.name, "removed": bool(removed)},
         [f"Instance secret '{args.name}' removed from the OS keyring." if removed
          else f"No instance secret was stored under '{args.name}'; nothing to remove."])
    return ExitCode.OK
