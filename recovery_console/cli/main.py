"""`recovery-console`: the command-line front end; every command is a thin call into the engine."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from recovery_console import __version__
from recovery_console.errors import ExitCode, RecoveryError

COMMANDS = {  # each command group lives in recovery_console.cli.<name>_cmd
    "profile": "deployment profiles: database, connection mode, target",
    "backup": "create, list, verify, move and delete backups",
    "restore": "restore a backup into PostgreSQL without risking what is there",
    "decrypt": "decrypt a backup to a pg_dump archive (works offline)",
    "contents": "list what a .dump or a backup holds (offline)",
    "target": "manage storage targets",
    "keyring": "check the OS keyring and keep instance secrets in it",
    "audit": "show or verify the audit log",
    "demo": "create a demo target with sample backups, list and verify them",
    "gui": "open the desktop console",
}

EPILOG = """exit codes:
  0 ok, 1 error, 2 usage, 3 verification failed, 4 wrong key, 5 not found,
  6 storage unreachable or refused, 7 unsupported format version, 8 no secret available,
  9 no space / quota exceeded, 10 database unreachable or refused, 130 cancelled"""


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for `argv`: only the named command group's module is imported and filled in.

    The others are listed for --help but not loaded: importing every group's engine modules cost
    each command about a third of a second before it could start.
    """
    parser = argparse.ArgumentParser(
        prog="recovery-console",
        description="Encrypted PostgreSQL backups: create, verify, move, decrypt and inspect them.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"recovery-console {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, helptext in COMMANDS.items():
        group = commands.add_parser(name, help=helptext)
        if name == wanted:
            importlib.import_module(f"{__package__}.{name}_cmd").register(group)
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
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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
    finally:
        from recovery_console.cli.common import close_consoles  # already imported by the command

        close_consoles()


if __name__ == "__main__":
    sys.exit(main())
