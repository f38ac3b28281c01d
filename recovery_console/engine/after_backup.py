"""What a policy run does after its backup, still under the database's lock: prove it, copy it, prune.

1. A full verify of the new backup read back from its target: the run is a success only if it passes,
   and the health view's "newest fully verified backup" is then the one just made.
2. A copy to each secondary target of the policy (engine/replicate.py), each its own `replication` run.
3. A prune of every target the policy writes to (engine/prune.py), its own `prune` run — skipped when
   anything before it failed, since a failing run must not also thin out the backups it could not replace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.errors import Cancelled, RecoveryError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.policy import Policy
from recovery_console.models.profile import Profile


@dataclass
class FollowUps:
    """The follow-up steps' own history records and the problems to report with the run's outcome."""

    records: list[RunRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def verify_new(console: Console, backup: BackupRecord, secret: str, reporter: Reporter | None) -> None:
    """The backup just written, read back from its target and fully verified (the verdict goes to the catalog)."""
    console.verify(console.locate(f"{backup.target}:{backup.key}"), secret, reporter=reporter)


def copy_and_prune(console: Console, history: RunHistory, profile: Profile, backup: BackupRecord,
                   reporter: Reporter | None, clock: Callable[[], datetime]) -> FollowUps:
    """Copy the verified backup to each secondary, then prune; each step recorded as its own run, started at
    `clock()` (the run's own clock, injected in tests)."""
    policy = profile.policy or Policy()
    done = FollowUps()
    ref = console.locate(f"{backup.target}:{backup.key}")
    for target in policy.secondary_targets:
        _step(history, done, "replication", profile, target, clock(), partial(_copy, console, ref, target, reporter))
    if policy.retention.keeps_everything:
        return done
    if done.problems:
        done.problems.append("not pruned: a step before it failed")
        return done
    targets = [t for t in (profile.target, *policy.secondary_targets) if t]
    _step(history, done, "prune", profile, ",".join(targets), clock(),
          partial(_prune, console, profile, policy, targets, reporter))
    return done


def _copy(console: Console, ref: BackupRef, target: str, reporter: Reporter | None) -> tuple[int, str]:
    from recovery_console.engine.replicate import replicate

    result = replicate(console, ref, target, reporter)
    return result.size, ("already there, checked" if result.already else "")


def _prune(console: Console, profile: Profile, policy: Policy, targets: list[str],
           reporter: Reporter | None) -> tuple[int, str]:
    from recovery_console.engine.prune import prune

    report = prune(console, profile.name, policy.retention, targets, lock_held=True, reporter=reporter)
    if not report.complete:
        first = report.failed[0]
        raise RecoveryError(f"{len(report.failed)} of {len(report.deleted) + len(report.failed)} deletions failed; "
                            f"the first: {first.error.message}", hint=first.error.hint)
    return 0, f"{len(report.deleted)} deleted"


def _step(history: RunHistory, done: FollowUps, trigger: str, profile: Profile, target: str, now: datetime,
          work: Callable[[], tuple[int, str]]) -> None:
    """Run one follow-up step, recording it in the run history as it starts and as it ends."""
    started = time.monotonic()
    record = RunRecord.start(trigger, profile.name, target, now.astimezone(UTC).isoformat(timespec="seconds")
                             .replace("+00:00", "Z"), None)
    history.append(record)
    try:
        size, note = work()
    except Cancelled:
        history.append(record.finished("cancelled", time.monotonic() - started, reason="cancelled"))
        raise
    except RecoveryError as exc:
        ended = record.finished("failed", time.monotonic() - started, reason=exc.message)
        done.problems.append(f"{trigger} to {target} failed: {exc.message}" if trigger == "replication"
                             else f"{trigger} failed: {exc.message}")
    else:
        ended = record.finished("ok", time.monotonic() - started, bytes=size, reason=note)
    history.append(ended)
    done.records.append(ended)
