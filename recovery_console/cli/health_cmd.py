"""`recovery-console health`: per profile, last success and failure, next run, newest verified backup vs RPO."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.health import ProfileHealth, health
from recovery_console.errors import ExitCode


def register(parser: argparse.ArgumentParser) -> None:
    add_json(parser)
    parser.set_defaults(func=cmd_health)


def _lines(item: ProfileHealth, now: datetime) -> list[str]:
    age = item.age_at(now)
    verified = (f"{age:.1f} h old (RPO {item.rpo_hours} h)" if age is not None
                else f"none fully verified (RPO {item.rpo_hours} h)")
    success, failure = item.last_success, item.last_failure
    return [f"{item.profile}  [{item.status.upper()}]",
            f"  Policy        {item.policy or '(none: backups only by hand)'}",
            f"  Last success  {success.started if success else 'never'}",
            f"  Last failure  {f'{failure.started} {failure.result}: {failure.reason}' if failure else 'none'}",
            f"  Next run      {item.next_run.isoformat() if item.next_run else 'not scheduled'}",
            f"  Verified      {verified}"]


def cmd_health(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    items = health(console(), now)
    emit(args, {"profiles": [item.as_dict(now) for item in items]},
         [line for item in items for line in _lines(item, now)] or ["No profiles."])
    return ExitCode.OK
