"""`recovery-console`: the command-line front end; every command is a thin call into the engine."""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from ..engine.errors import ExitCode, RecoveryError
from . import audit_cmd, backup_cmd, contents_cmd, decrypt_cmd, demo_cmd, gui_cmd, keyring_cmd, profile_cmd, restore_cmd, target_cmd

EPILOG = """exit codes:
  0 ok, 1 error, 2 usage, 3 verification failed, 4 wrong key, 5 not found,
  6 storage unreachable or refused, 7 unsupported format version, 8 no secret available,
  9 no space / quota exceeded, 10 database unreachable or refused, 130 cancelled"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recovery-console",
        description="Encrypted PostgreSQL backups: create, verify, move, decrypt and inspect them.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"recovery-console {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (profile_cmd, backup_cmd, restore_cmd, decrypt_cmd, contents_cmd, target_cmd, keyring_cmd, audit_cmd, demo_cmd, gui_cmd):
        module.register(commands)
    return parser


def report_error(exc: RecoveryError, as_json: bool) -> None:
    if as_json:
        json.dump({"ok": False, "error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                                          "exit_code": int(exc.exit_code)}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    print(f"Error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"What to do: {exc.hint}", file=sys.stderr)
    if exc.detail:
        print(f"Details: {exc.detail}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RecoveryError as exc:
        report_error(exc, getattr(args, "json", False))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("Interrupted; partial output was removed.", file=sys.stderr)
        return int(ExitCode.CANCELLED)
    except BrokenPipeError:
        return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
