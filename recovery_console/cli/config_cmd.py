"""`recovery-console config …`: move this console's targets, profiles and policies to another machine.

    config export -o FILE [--encrypted [--allow-weak]] [--force] [--json]
                                  readable JSON without secrets; --encrypted: sealed with a passphrase,
                                  with the keyring secrets (instance secrets, target logins, DB passwords)
    config import FILE [--dry-run] [--on-conflict keep|replace|rename] [--json]
                                  show what would be added or changed, then do it

The passphrase is never taken from argv: --passphrase-file FILE ('-' for standard input),
--passphrase-env VAR, or a prompt on the terminal (asked twice when exporting).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import asdict
from pathlib import Path

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.state.config_bundle import passphrase_strength
from recovery_console.engine.state.config_transfer import RESOLUTIONS, ImportPlan
from recovery_console.engine.state.secret_sources import normalise_secret, read_secret_file
from recovery_console.errors import ExitCode, SecretUnavailableError, UsageError
from recovery_console.formatting import counted


def _passphrase_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("passphrase (never on the command line; asked on the terminal otherwise)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--passphrase-file", type=Path, metavar="FILE",
                        help="read the passphrase from FILE ('-': standard input)")
    source.add_argument("--passphrase-env", metavar="VAR", help="read the passphrase from environment variable VAR")


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="config_command", required=True, metavar="COMMAND")

    export = commands.add_parser("export", help="write targets, profiles and policies to a file")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    export.add_argument("--encrypted", action="store_true",
                        help="seal the file with a passphrase and include the secrets from the OS keyring")
    export.add_argument("--allow-weak", action="store_true", help="accept a passphrase estimated as weak")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    _passphrase_options(export)
    add_json(export)
    export.set_defaults(func=cmd_export)

    imp = commands.add_parser("import", help="add the targets and profiles of an exported configuration")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="only show what would be added or changed")
    imp.add_argument("--on-conflict", choices=RESOLUTIONS, default="keep",
                     help="a target or profile of the same name but other settings: keep ours (default), "
                          "replace it, or import it under a new name")
    _passphrase_options(imp)
    add_json(imp)
    imp.set_defaults(func=cmd_import)


def _given_passphrase(args: argparse.Namespace) -> str | None:
    if args.passphrase_file is not None:
        if str(args.passphrase_file) == "-":
            value = normalise_secret(sys.stdin.read())
            if not value:
                raise SecretUnavailableError("Standard input held no passphrase.")
            return value
        return read_secret_file(args.passphrase_file)
    if args.passphrase_env is not None:
        value = os.environ.get(args.passphrase_env, "")
        if not value:
            raise SecretUnavailableError(f"The environment variable {args.passphrase_env} is not set or is empty.")
        return value
    return None


def _no_terminal() -> UsageError:
    return UsageError("This needs a passphrase, and there is no terminal to ask for one.",
                      hint="Pass --passphrase-file FILE ('-' for standard input) or --passphrase-env VAR.")


def _new_passphrase(args: argparse.Namespace) -> str:
    given = _given_passphrase(args)
    if given is not None:
        return given
    if sys.stdin is None or not sys.stdin.isatty():
        raise _no_terminal()
    first = getpass.getpass("Passphrase for the export: ")
    strength = passphrase_strength(first)
    print(f"Strength: {strength.level} (about {strength.bits} bits from its length and kinds of characters)"
          + (f". {strength.advice}" if strength.advice else ""), file=sys.stderr)
    if getpass.getpass("Again, to confirm: ") != first:
        raise UsageError("The two entries differ; nothing was exported.")
    return first


def cmd_export(args: argparse.Namespace) -> int:
    passphrase = _new_passphrase(args) if args.encrypted else None
    summary = console().config_transfer().export(args.output, passphrase=passphrase, allow_weak=args.allow_weak,
                                                 overwrite=args.force)
    what = (f"sealed with the passphrase ({summary.strength}), with {counted(summary.secrets, 'secret')} from the "
            "OS keyring"
            if summary.encrypted else "readable JSON, without secrets")
    emit(args, {"path": str(summary.path), "encrypted": summary.encrypted, "targets": summary.targets,
                "profiles": summary.profiles, "secrets": summary.secrets, "size": summary.size,
                "strength": summary.strength},
         [f"Exported {counted(summary.targets, 'target')} and {counted(summary.profiles, 'profile')} to "
          f"{summary.path}: {what}."])
    return ExitCode.OK


def _plan_lines(plan: ImportPlan, choice: str) -> list[str]:
    lines = [f"{plan.source}: exported {plan.document.exported_at or 'at an unknown time'} by "
             f"{plan.document.exported_by or 'unknown'}{' (encrypted)' if plan.document.sealed else ''}"]
    for change in plan.changes:
        secrets = f"; secrets: {', '.join(change.secrets)}" if change.secrets else ""
        if change.action == "conflict":
            then = f"rename to '{change.rename_to}'" if choice == "rename" else choice
            lines.append(f"  conflict   {change.kind} {change.name}: differs in {', '.join(change.differences)}"
                         f" → {then}{secrets}")
        else:
            lines.append(f"  {change.action:<10} {change.kind} {change.name}{secrets}")
    lines += [f"  warning: {warning}" for warning in plan.warnings]
    return lines


def cmd_import(args: argparse.Namespace) -> int:
    transfer = console().config_transfer()
    passphrase = None
    if transfer.needs_passphrase(args.file):
        passphrase = _given_passphrase(args)
        if passphrase is None:
            if sys.stdin is None or not sys.stdin.isatty():
                raise _no_terminal()
            passphrase = getpass.getpass("Passphrase of the export: ")
    plan = transfer.plan(args.file, passphrase)
    lines = _plan_lines(plan, args.on_conflict)
    data = plan.as_dict()
    if args.dry_run:
        emit(args, {**data, "dry_run": True}, [*lines, "Dry run: nothing was changed."])
        return ExitCode.OK
    outcomes = transfer.apply(plan, default=args.on_conflict)
    done = [o for o in outcomes if o.result in ("added", "replaced", "renamed")]
    lines += [f"{o.result.capitalize()} {o.kind} {o.stored_as}" + (f" (from '{o.name}')" if o.stored_as != o.name
                                                                   else "") for o in done]
    lines.append(f"{counted(len(done), 'change')} made; {counted(len(outcomes) - len(done), 'record')} left as "
                 "they were.")
    emit(args, {**data, "dry_run": False, "outcomes": [asdict(o) for o in outcomes]}, lines)
    return ExitCode.OK
