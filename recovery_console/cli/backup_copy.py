"""`backup copy ID --to TARGET`: replicate a stored backup or a whole recovery set to another target, registered
under `backup`; and `backup upload` of a set's folder (as `backup download` writes one)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recovery_console.cli.common import add_json, console, emit, job, secret_from
from recovery_console.engine.replicate import copy_source, replicate
from recovery_console.engine.sets.set_copies import one_copy
from recovery_console.engine.sets.set_copy import copy_set, upload_set
from recovery_console.errors import ExitCode, UsageError
from recovery_console.formatting import format_bytes


def register(commands: Any) -> None:
    copying = commands.add_parser("copy", help="copy a backup or a recovery set as it is (no key needed) to another "
                                               "target")
    copying.add_argument("backup", help="a backup or set id from `backup list`, or TARGET:KEY")
    copying.add_argument("--to", required=True, metavar="TARGET", help="the target to copy it to")
    copying.add_argument("--target", help="copy the one on this target")
    add_json(copying)
    copying.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    app = console()
    found = None if Path(args.backup).expanduser().is_file() else one_copy(app, args.backup, args.target, args.to)
    if found is not None:
        with job(args) as reporter:
            sent = copy_set(app, found, args.to, reporter)
        verb = "was already on" if sent.already else "copied to"
        emit(args, {**sent.__dict__, "set_id": found.set_id},
             [f"Recovery set {found.set_id} {verb} target '{sent.target}' ({sent.files} files, "
              f"{format_bytes(sent.size)}; the manifest last).",
              f"Read back from '{sent.target}': every member file and the manifest match the set's sidecar."])
        return ExitCode.OK
    ref = copy_source(app, args.backup, args.to, args.target)
    with job(args) as reporter:
        result = replicate(app, ref, args.to, reporter)
    verb = "was already on" if result.already else "copied to"
    emit(args, result.__dict__,
         [f"{result.key} {verb} target '{result.target}' ({format_bytes(result.size)}).",
          f"Read back from '{result.target}': SHA-256 {result.sha256} matches its sidecar."])
    return ExitCode.OK


def cmd_upload_set(args: argparse.Namespace) -> int:
    """`backup upload FOLDER`: a downloaded set's folder put back on a target as that set."""
    app = console()
    target = args.target or (app.profiles.store.get(args.profile).target if args.profile else None)
    if not target:
        raise UsageError("backup upload needs --target (or --profile, whose target is used).")
    has_secret = args.secret_key_file or args.secret_key_env or args.secret_keyring
    secret = secret_from(args) if has_secret or not args.profile else app.profiles.instance_secret(args.profile)
    with job(args) as reporter:
        sent, manifest = upload_set(app, args.file[0], target, secret, reporter)
    emit(args, {**sent.__dict__, "set_id": manifest.set_id, "members": [m.name for m in manifest.members]},
         [f"Recovery set {manifest.set_id} verified and uploaded to target '{sent.target}' ({sent.files} files, "
          f"{format_bytes(sent.size)}; the manifest last).",
          f"Path      {sent.folder}",
          "Members   " + ", ".join(m.name for m in manifest.members) + " (each proven with the key before sending, "
          "and read back from the target)"])
    return ExitCode.OK
