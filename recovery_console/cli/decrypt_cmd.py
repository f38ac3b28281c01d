"""`recovery-console decrypt`: turn a backup back into a plain pg_dump archive, or show its metadata."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_console.cli.common import add_json, add_secret_options, console, emit, job, secret_to_open
from recovery_console.errors import ExitCode, UsageError
from recovery_console.formatting import format_bytes


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", help="a backup file, or a backup id from `backup list`")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to write the .dump (required unless --metadata-only): a new or regular file; "
                             "devices, FIFOs, symbolic links and the backup itself are refused")
    parser.add_argument("--metadata-only", action="store_true", help="show the decrypted metadata, write nothing")
    parser.add_argument("--target", help="look the id up on this target only")
    parser.add_argument("--force", action="store_true", help="replace an existing regular output file")
    add_secret_options(parser, profile=True)
    add_json(parser)
    parser.set_defaults(func=cmd_decrypt)


def cmd_decrypt(args: argparse.Namespace) -> int:
    app = console()
    ref = app.locate(args.backup, args.target)
    if args.metadata_only:
        data = app.inspect(ref, secret_to_open(args, app, ref)).as_dict()
        emit(args, data, [f"{key:<16} {value}" for key, value in sorted(data.items())])
        return ExitCode.OK
    if args.output is None:
        raise UsageError("decrypt needs -o/--output (or --metadata-only).")
    with job(args) as reporter:
        secret = secret_to_open(args, app, ref, reporter)
        result = app.decrypt(ref, args.output, secret, overwrite=args.force, reporter=reporter)
    emit(args, {"path": str(result.path), "size": result.size, "sha256": result.sha256,
                "metadata": result.metadata.as_dict() if result.metadata else None},
         [f"Decrypted to {result.path} ({format_bytes(result.size)}).",
          f"SHA-256 {result.sha256} (matches the hash sealed in the backup).",
          f"Restore with: pg_restore -d DATABASE {result.path}"])
    return ExitCode.OK
