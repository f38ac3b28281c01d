"""`backup copy ID --to TARGET`: replicate a stored backup to another target, registered under `backup`."""

from __future__ import annotations

import argparse
from typing import Any

from recovery_console.cli.common import add_json, console, emit, job
from recovery_console.engine.replicate import copy_source, replicate
from recovery_console.errors import ExitCode
from recovery_console.formatting import format_bytes


def register(commands: Any) -> None:
    copying = commands.add_parser("copy", help="copy a backup as it is (no key needed) to another target")
    copying.add_argument("backup", help="a backup id from `backup list`, or TARGET:KEY")
    copying.add_argument("--to", required=True, metavar="TARGET", help="the target to copy it to")
    copying.add_argument("--target", help="copy the one on this target")
    add_json(copying)
    copying.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    app = console()
    ref = copy_source(app, args.backup, args.to, args.target)
    with job(args) as reporter:
        result = replicate(app, ref, args.to, reporter)
    verb = "was already on" if result.already else "copied to"
    emit(args, result.__dict__,
         [f"{result.key} {verb} target '{result.target}' ({format_bytes(result.size)}).",
          f"Read back from '{result.target}': SHA-256 {result.sha256} matches its sidecar."])
    return ExitCode.OK
