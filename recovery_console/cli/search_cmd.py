"""`recovery-console search`: every value of a backup's or archive's tables holding a string or pattern (offline)."""

from __future__ import annotations

import argparse
import json
import sys

from recovery_console.cli.common import console, job, printable, secret_from
from recovery_console.cli.tables_cmd import add_source
from recovery_console.engine.forensics.table_search import SearchHit
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import ExitCode
from recovery_console.formatting import counted

MARK_ON, MARK_OFF = "\x1b[1;31m", "\x1b[0m"


def register(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument("pattern", metavar="PATTERN", help="the text to find (with --regex: a regular expression)")
    parser.add_argument("--regex", action="store_true", help="PATTERN is a regular expression")
    parser.add_argument("-i", "--ignore-case", action="store_true", help="ignore upper and lower case")
    parser.add_argument("--table", metavar="SCHEMA.NAME", help="search this table only")
    parser.set_defaults(func=cmd_search)


def human_hit(hit: SearchHit, colour: bool) -> str:
    """One hit as a line; the value's control characters escaped, the match marked (in colour on a terminal)."""
    text = hit.excerpt
    before, match, after = (printable(part) for part in (text[:hit.start], text[hit.start:hit.end], text[hit.end:]))
    on, off = (MARK_ON, MARK_OFF) if colour else ("[", "]")
    more_before = "…" if hit.excerpt_offset else ""
    more_after = "…" if hit.excerpt_offset + len(text) < hit.value_length else ""
    return (f"{printable(hit.table)} row {hit.row} column {printable(hit.column)}: "
            f"{more_before}{before}{on}{match}{off}{after}{more_after}")


def cmd_search(args: argparse.Namespace) -> int:
    app = console()
    bench = Workbench(app)
    ref = bench.locate(args.source, args.target)
    colour = sys.stdout.isatty()
    hits: list[dict[str, object]] = []

    def on_hit(hit: SearchHit) -> None:
        if args.json:
            hits.append(hit.as_dict())
        else:
            print(human_hit(hit, colour), flush=colour)

    with job(args) as reporter:
        summary = bench.search(ref, lambda: secret_from(args), args.pattern, regex=args.regex,
                                        ignore_case=args.ignore_case, table=args.table, on_hit=on_hit,
                                        reporter=reporter)
    if args.json:
        json.dump({"hits": hits, "tables_searched": summary.tables_searched}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not args.quiet:
        print(f"{counted(summary.hits, 'hit')} in {len(summary.tables_with_hits)} of "
              f"{counted(summary.tables_searched, 'table')}.",
              file=sys.stderr)
    return ExitCode.OK
