"""`recovery-console history`: the runs of the policies, oldest first."""

from __future__ import annotations

import argparse

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.errors import ExitCode


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="only this profile's runs")
    parser.add_argument("--last", type=int, metavar="N", help="only the newest N runs")
    add_json(parser)
    parser.set_defaults(func=cmd_history)


def line(record: RunRecord) -> str:
    outcome = record.result + (f": {record.reason}" if record.reason else "")
    size = f" {record.bytes:,} B" if record.bytes else ""
    return (f"{record.started}  {record.trigger:<9} {record.profile:<12} {record.target or '-':<12} "
            f"{record.duration:7.1f} s{size}  {outcome}")


def cmd_history(args: argparse.Namespace) -> int:
    records = RunHistory(console().paths).records(args.profile)
    if args.last is not None:
        records = records[-args.last:] if args.last > 0 else []
    emit(args, {"runs": [r.as_dict() for r in records]}, [line(r) for r in records] or ["No runs yet."])
    return ExitCode.OK
