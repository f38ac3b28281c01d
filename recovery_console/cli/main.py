"""`recovery-console`: the command-line front end; every command is a thin call into the engine."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn, TextIO

from recovery_console import __version__
from recovery_console.cli import ahead
from recovery_console.errors import ExitCode, RecoveryError

log = logging.getLogger(__name__)

COMMANDS = {  # each command group lives in recovery_console.cli.<name>_cmd
    "profile": "deployment profiles: database, connection mode, target",
    "backup": "create, list, verify, move and delete backups",
    "restore": "restore a backup into PostgreSQL without risking what is there",
    "decrypt": "decrypt a backup to a pg_dump archive (works offline)",
    "contents": "list what a .dump or a backup holds (offline)",
    "tables": "list a backup's tables with columns, rows and sizes (offline)",
    "export": "export a table of a backup as CSV, JSON lines or COPY text (offline)",
    "search": "find a string or pattern in every table of a backup (offline)",
    "report": "write a chain-of-custody report of a backup as HTML or PDF (offline)",
    "sandbox": "restore a backup into a throwaway PostgreSQL server to query it with SQL (offline)",
    "diff": "compare two backups: schema, and rows only in one or changed, per table (offline)",
    "target": "manage storage targets",
    "keyring": "check the OS keyring and keep instance secrets in it",
    "config": "export this console's targets, profiles and policies, or import another's",
    "audit": "show or verify the audit log",
    "catalog": "rebuild the catalog (a cache of what the targets hold) from the targets",
    "run-due": "run every due scheduled backup (what the OS scheduler calls)",
    "schedule": "install, show or remove a profile's schedule in the OS scheduler",
    "history": "show the runs of the policies: scheduled, manual, skipped, failed",
    "health": "per profile: last success and failure, next run, newest verified backup against the RPO",
    "demo": "create a demo target with sample backups, list and verify them",
    "gui": "open the desktop console",
}

EPILOG = """exit codes:
  0 ok, 1 error, 2 usage, 3 verification failed, 4 wrong key, 5 not found,
  6 storage unreachable or refused, 7 unsupported format version, 8 no secret available,
  9 no space / quota exceeded, 10 database unreachable or refused,
  11 partial result (some targets unreachable; the others are listed),
  12 busy (the same database is being restored, backed up or rolled back),
  70 unexpected error (a bug; a crash report is written), 130 cancelled"""


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
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--debug", action="store_true",
                           help="log everything, and show the traceback of an unexpected error")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress display; only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, helptext in COMMANDS.items():
        group = commands.add_parser(name, help=helptext)
        if name == wanted:
            importlib.import_module(f"{__package__}.{name.replace('-', '_')}_cmd").register(group)
    return parser


def report_error(exc: RecoveryError, as_json: bool) -> None:
    from recovery_console.cli.common import printable  # loaded only when an error is shown

    if as_json:
        json.dump({"ok": False, "error": {"type": type(exc).__name__, "message": exc.message,
                                          "hint": exc.hint_for_cli(), "exit_code": int(exc.exit_code)}},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    print(f"Error: {printable(exc.message)}", file=sys.stderr)
    if exc.hint_for_cli():
        print(f"What to do: {printable(exc.hint_for_cli())}", file=sys.stderr)
    if exc.detail:
        print(f"Details: {printable(exc.detail)}", file=sys.stderr)


_SHOW_WARNING = warnings.showwarning


def _plain_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as one line for the user, without the source file and line Python shows by default."""
    print(f"Warning: {message}", file=file or sys.stderr)


def configure_logging(debug: bool, quiet: bool) -> None:
    """This program's records on stderr: warnings by default, errors only with --quiet, everything with --debug."""
    warnings.showwarning = _SHOW_WARNING if debug else _plain_warning
    logger = logging.getLogger("recovery_console")
    for old in [h for h in logger.handlers if h.get_name() == __name__]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(__name__)
    if debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.setLevel(logging.ERROR if quiet else logging.WARNING)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.NOTSET)


def report_crash(exc: BaseException, argv: Sequence[str], debug: bool, as_json: bool) -> int:
    """One line for the user, the traceback in a crash report (and on stderr with --debug)."""
    from recovery_console.engine.state.crash_reports import summary, write_crash_report

    path = write_crash_report(exc, context="recovery-console " + " ".join(argv))
    if as_json:
        json.dump({"ok": False, "error": {"type": "Crash", "message": summary(exc), "crash_report": str(path or ""),
                                          "exit_code": int(ExitCode.CRASH)}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    where = f"the crash report is {path}" if path else "no crash report could be saved"
    print(f"Unexpected error ({summary(exc)}); this is a bug, {where}."
          + ("" if debug else " Run again with --debug to see the traceback."), file=sys.stderr)
    return int(ExitCode.CRASH)


class Terminated(KeyboardInterrupt):
    """SIGTERM outside a job: stop at once, like a second Ctrl-C; every cleanup on the way out still runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # known before parsing: a crash while loading a command is reported the same way
    configure_logging(debug, quiet=False)
    args: argparse.Namespace | None = None
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_term = signal.signal(signal.SIGTERM, _on_sigterm) if on_main_thread else None
    try:
        ahead.start(argv)
        args = build_parser(argv).parse_args(argv)
        configure_logging(args.debug, args.quiet)
        if args.command == "gui" and on_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # Qt's event loop would hold a Python handler back
        return int(args.func(args))
    except RecoveryError as exc:
        report_error(exc, getattr(args, "json", "--json" in argv))  # args is None when it comes before parsing
        log.debug("%s", type(exc).__name__, exc_info=True)
        return int(exc.exit_code)
    except Terminated:
        print("Stopped by SIGTERM; partial output was removed.", file=sys.stderr)
        return int(ExitCode.CANCELLED)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a further Ctrl-C must not interrupt the cleanup below
        print("Interrupted; partial output was removed.", file=sys.stderr)
        return int(ExitCode.CANCELLED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:
        log.debug("Unexpected error", exc_info=True)  # the traceback, shown with --debug
        return report_crash(exc, argv, debug, getattr(args, "json", False))
    finally:
        ahead.stop()  # before anything else: no pg_dump may outlive the command
        from recovery_console.cli.common import command_ended  # already imported by the command

        command_ended()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def run() -> NoReturn:
    """The `recovery-console` program: main(), then an exit that runs the atexit handlers (logging's flush, SMB
    disconnects) and flushes the output but skips the interpreter's teardown of every object (0.05–0.3 s)."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: what was printed is all that could be
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
