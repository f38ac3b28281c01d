"""`audit show` and `audit verify`: read and check the console's hash-chained audit log."""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque

from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.audit_entry import AuditEntry
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import ExitCode, IntegrityError


def register(audit: argparse.ArgumentParser) -> None:
    """Fill in the `audit` command group (`show`, `verify`)."""
    audit.description = "Show or verify the append-only, hash-chained log of actions taken by the console."
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    show = commands.add_parser("show", help="list audit log entries",
                               description="List audit log entries, oldest first.")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    show.add_argument("--limit", type=_positive_int, metavar="N", help="only the last N entries")
    show.set_defaults(func=show_handler)

    verify = commands.add_parser(
        "verify",
        help="check the hash chain",
        description=(
            "Check every entry and link of the audit log, and that it still ends with the entry the console "
            "anchored in its config folder. Record the printed last hash off this machine and pass it later "
            "with --anchor to also detect a log and anchor rewritten together."
        ),
    )
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.add_argument("--anchor", metavar="HASH", help="a last hash recorded earlier that must still be in the log")
    verify.set_defaults(func=verify_handler)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _log() -> AuditLog:
    return AuditLog.at(AppPaths.default())


EXTERNAL_ANCHOR = (
    "The console's own anchor catches entries removed from the end, an edited last entry and a re-chained "
    "log; someone able to rewrite both it and the log is caught only by a hash kept off this machine: "
    "record the last hash elsewhere and check it later with --anchor HASH."
)


def _clean(text: str) -> str:
    """Make a logged value safe to print on one terminal line (no control characters)."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def show_handler(args: argparse.Namespace) -> int:
    log = _log()
    limit = getattr(args, "limit", None)
    shown: deque[AuditEntry] = deque(maxlen=limit)
    error: IntegrityError | None = None
    try:
        for entry in log.entries():
            shown.append(entry)
    except IntegrityError as exc:
        error = exc

    if getattr(args, "json", False):
        document = {
            "path": str(log.path),
            "entries": [entry.to_dict() for entry in shown],
            "error": None if error is None else {"message": error.message, "hint": error.hint},
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        if not shown and error is None:
            print(f"The audit log is empty ({log.path}).")
        rows = [
            (
                f"#{entry.seq}",
                entry.time,
                f"{entry.user}@{entry.host}",
                entry.action,
                entry.object,
                entry.result,
            )
            for entry in shown
        ]
        cleaned = [[_clean(cell) for cell in row] for row in rows]
        if cleaned:
            widths = [max(len(row[i]) for row in cleaned) for i in range(len(cleaned[0]))]
            for row in cleaned:
                print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if error is not None:
            print(f"error: {error.message}", file=sys.stderr)
            if error.hint:
                print(f"hint: {error.hint}", file=sys.stderr)
    return ExitCode.VERIFY_FAILED if error is not None else ExitCode.OK


def verify_handler(args: argparse.Namespace) -> int:
    log = _log()
    result = log.verify(anchor=getattr(args, "anchor", None))
    if getattr(args, "json", False):
        print(json.dumps({"path": str(log.path), "anchor_file": str(log.anchor_path), **result.to_dict(),
                          "external_anchor": EXTERNAL_ANCHOR}, indent=2, ensure_ascii=False))
    elif result.ok:
        print(f"Audit log intact: {result.entries} entries, last hash {result.last_hash}")
        for note in result.notes:
            print(f"Note: {_clean(note)}")
        if getattr(args, "anchor", None) is None:
            print(EXTERNAL_ANCHOR)
    else:
        if result.first_broken_seq is not None:
            where = f" at entry {result.first_broken_seq} (line {result.first_broken_line})"
        elif result.first_broken_line is not None:
            where = f" at line {result.first_broken_line}"
        else:
            where = ""
        print(f"Audit log BROKEN{where}: {result.reason}")
        print(f"{result.entries} entries intact before the break; last intact hash {result.last_hash}")
    return ExitCode.OK if result.ok else ExitCode.VERIFY_FAILED
