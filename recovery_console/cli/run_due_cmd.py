"""`recovery-console run-due`: run every due scheduled backup and exit (what the OS scheduler calls).

With nothing due it answers from profiles.json and the run history alone, without opening a console.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from recovery_console.cli.common import add_json, add_secret_options, console, emit, job, secret_from
from recovery_console.engine.due import RunOutcome, exit_code, pending
from recovery_console.engine.state.paths import AppPaths


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="only this profile (default: every profile with a policy)")
    add_secret_options(parser)
    add_json(parser)
    parser.set_defaults(func=cmd_run_due)


def cmd_run_due(args: argparse.Namespace) -> int:
    due = pending(AppPaths.default(), args.profile, datetime.now(UTC))
    if any(slot is not None for _, slot in due):
        from recovery_console.engine.run_due import run_due  # the backup engine: only when something is due

        given = args.secret_key_file or args.secret_key_env or args.secret_keyring
        secret = secret_from(args) if given else None  # else each profile's secret from the OS keyring
        with job(args) as reporter:
            outcomes = run_due(console(), args.profile, secret=secret, reporter=reporter)
    else:
        outcomes = [RunOutcome(profile.name, "not due") for profile, _ in due]
    code = exit_code(outcomes)
    emit(args, {"ok": code == 0, "exit_code": code, "runs": [o.as_dict() for o in outcomes]},
         [o.line() for o in outcomes] or ["No profiles."])
    return code
