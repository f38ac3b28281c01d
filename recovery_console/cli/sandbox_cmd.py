"""`recovery-console sandbox`: a backup restored into a throwaway PostgreSQL server, for full SQL (offline)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from recovery_console.cli.common import console, emit, job, printable, secret_from
from recovery_console.cli.tables_cmd import add_source
from recovery_console.engine.forensics.sandbox import Sandbox, SandboxInfo
from recovery_console.engine.pg.text_query import QueryResult
from recovery_console.errors import ExitCode

READY = "Sandbox ready"


def register(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument("--keep", action="store_true",
                        help="leave the server running when this command ends (stop it yourself; see its output)")
    parser.add_argument("--query", metavar="SQL",
                        help="run SQL (in a read-only transaction), print its result, and remove the sandbox")
    parser.add_argument("--read-write", action="store_true", help="with --query: allow the query to change data")
    parser.add_argument("--max-rows", type=int, metavar="N", help="with --query: print at most N rows")
    parser.set_defaults(func=cmd_sandbox)


def _ready_lines(info: SandboxInfo) -> list[str]:
    lines = [f"{READY}: database {info.database} restored from {info.location} into {info.server}.",
             f"Connection string: {info.url}",
             f"psql: {shlex.join(info.psql)}"]
    if info.conninfo.get("passfile"):
        lines.append(f"(The generated password is in {info.conninfo['passfile']}; psql finds it there.)")
    lines += [f"Warning: {warning}" for warning in info.warnings]
    if info.kept:
        lines += [f"The server keeps running after this command ends (PID {info.server_pid}, files in {info.folder}).",
                  f"Stop it with: kill -INT {info.server_pid}",
                  "While it runs, no console start removes it; the first console start after it has stopped "
                  "removes its folder, data included."]
    else:
        lines.append(f"Press Ctrl-C to stop it; the server is stopped and {info.folder} removed.")
    return lines


def _table(result: QueryResult) -> list[str]:
    """The result as aligned text columns (NULL shown empty, as psql does), then the server's status."""
    if not result.columns:
        return [result.status]
    cells = [[printable(value) if value is not None else "" for value in row] for row in result.rows]
    header = [printable(name) for name in result.columns]
    widths = [max([len(header[i]), *(len(row[i]) for row in cells)]) for i in range(len(header))]
    lines = [" | ".join(name.ljust(width) for name, width in zip(header, widths, strict=True)).rstrip(),
             "-+-".join("-" * width for width in widths)]
    lines += [" | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    more = " (more rows were left out)" if result.truncated else ""
    lines.append(f"({len(result.rows)} {'row' if len(result.rows) == 1 else 'rows'}){more}")
    return lines


def cmd_sandbox(args: argparse.Namespace) -> int:
    app = console()
    sandbox = Sandbox(app)
    ref = sandbox.locate(args.source, args.target)
    if args.query is not None:
        with job(args) as reporter:
            info, result = sandbox.query_once(ref, lambda: secret_from(args), args.query,
                                              read_only=not args.read_write, max_rows=args.max_rows,
                                              reporter=reporter)
        emit(args, {"sandbox": info.as_dict(), **result.as_dict()}, _table(result))
        return ExitCode.OK
    with job(args) as reporter, sandbox.open(ref, lambda: secret_from(args), keep=args.keep,
                                             reporter=reporter) as session:
        if args.json:
            json.dump({"ready": True, **session.info.as_dict()}, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
        else:
            sys.stdout.write("\n".join(printable(line) for line in _ready_lines(session.info)) + "\n")
        sys.stdout.flush()
        if not args.keep:
            session.wait(reporter)
    if not args.keep and not args.quiet:
        print("Sandbox stopped and removed.", file=sys.stderr)
    return ExitCode.OK
