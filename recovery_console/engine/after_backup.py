"""What a policy run does after its backup, still under the database's lock: prove it, copy it, prune.

1. A full verify of the new backup read back from its target: the run is a success only if it passes,
   and the health view's "newest fully verified backup" is then the one just made.
2. A copy to each secondary target of the policy (engine/replicate.py), each its own `replication` run
   naming its backup; then the copies an earlier run left unfinished (failed, or killed mid-way) are made,
   so the next run completes them.
3. A prune of every target the policy writes to (engine/prune.py), its own `prune` run, never deleting the
   backup just made — skipped when anything before it failed, since a failing run must not also thin out the
   backups it could not replace.

A recovery set's run (engine/sets/set_runs.py) takes the same steps through `step`, `undone_copies` and
`prune_last`, copying with engine/sets/set_copy.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.retention import fully_verified
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
        step(history, done, "replication", profile, target, clock(), partial(_copy, console, ref, target, reporter),
             backup_id=backup.backup_id)
        for earlier in unfinished_copies(console, history, profile.name, target, backup):
            step(history, done, "replication", profile, target, clock(),
                 partial(_copy, console, earlier, target, reporter),
                 backup_id=earlier.record.backup_id if earlier.record else None)
    prune_last(console, history, done, profile, backup.key, reporter, clock)
    return done


def prune_last(console: Console, history: RunHistory, done: FollowUps, profile: Profile, made: str,
               reporter: Reporter | None, clock: Callable[[], datetime]) -> None:
    """The run's last step (a single backup's or a recovery set's): the prune of every target the policy writes
    to, keeping `made` (the key of what this run made); skipped when a step before it failed."""
    policy = profile.policy or Policy()
    if policy.retention.keeps_everything:
        return
    if done.problems:
        done.problems.append("not pruned: a step before it failed")
        return
    targets = [t for t in (profile.target, *policy.secondary_targets) if t]
    step(history, done, "prune", profile, ",".join(targets), clock(),
         partial(_prune, console, profile, policy, targets, made, reporter))


def undone_copies(history: RunHistory, profile: str, target: str, new: str, field: str = "backup_id") -> list[str]:
    """The ids (a run record's `field`: `backup_id`, or `set_id` for recovery sets) of what the profile's runs made
    whose copy to `target` an earlier run left undone, oldest first: its latest copy there failed or was cut short,
    or the run that made it stopped before it tried (killed, cancelled). `new`, made by this run, is not named."""
    copies: dict[str, RunRecord] = {}
    made: dict[str, RunRecord] = {}
    for record in history.records(profile):
        made_id = getattr(record, field)
        if made_id and record.trigger == "replication" and record.target == target:
            copies[made_id] = record
        elif made_id and record.trigger in ("scheduled", "manual"):
            made[made_id] = record
    undone = [b for b, r in made.items() if r.result in ("interrupted", "cancelled") and b not in copies]
    undone += [b for b, r in copies.items() if r.result not in ("ok", "running")]
    return sorted(set(undone) - {new}, key=lambda b: (made.get(b) or copies[b]).started)


def unfinished_copies(console: Console, history: RunHistory, profile: str, target: str,
                      new: BackupRecord) -> list[BackupRef]:
    """The verified backups on the primary (`new`'s target) whose copy to `target` an earlier run left undone
    (`undone_copies`), oldest first. `new`, the backup this run made, is copied anyway."""
    refs = []
    for backup_id in undone_copies(history, profile, target, new.backup_id):
        try:
            ref = console.locate(backup_id, new.target)
        except RecoveryError:
            continue  # pruned or deleted since: nothing left to copy
        if ref.record is not None and fully_verified(ref.record):
            refs.append(ref)
    return refs


def _copy(console: Console, ref: BackupRef, target: str, reporter: Reporter | None) -> tuple[int, str]:
    from recovery_console.engine.replicate import replicate

    result = replicate(console, ref, target, reporter)
    return result.size, ("already there, checked" if result.already else "")


def _prune(console: Console, profile: Profile, policy: Policy, targets: list[str], made: str,
           reporter: Reporter | None) -> tuple[int, str]:
    from recovery_console.engine.prune import prune

    report = prune(console, profile.name, policy.retention, targets, last_run_failed=False, lock_held=True,
                   made=made, reporter=reporter)
    if not report.complete:
        first = report.failed[0]
        raise RecoveryError(f"{len(report.failed)} of {len(report.deleted) + len(report.failed)} deletions failed; "
                            f"the first: {first.error.message}", hint=first.error.hint)
    return 0, "; ".join([f"{len(report.deleted)} deleted", *report.folders_kept])


def step(history: RunHistory, done: FollowUps, trigger: str, profile: Profile, target: str, now: datetime,
         work: Callable[[], tuple[int, str]], *, backup_id: str | None = None, set_id: str | None = None) -> None:
    """Run one follow-up step, recording it in the run history (with the backup or set it copies) as it starts and
    as it ends; a failure becomes one of `done`'s problems."""
    started = time.monotonic()
    record = replace(RunRecord.start(trigger, profile.name, target, now.astimezone(UTC).isoformat(timespec="seconds")
                                     .replace("+00:00", "Z"), None), backup_id=backup_id, set_id=set_id)
    history.append(record)
    try:
        size, note = work()
    except Cancelled:
        history.append(record.finished("cancelled", time.monotonic() - started, reason="cancelled",
                                       backup_id=backup_id))
        raise
    except RecoveryError as exc:
        ended = record.finished("failed", time.monotonic() - started, reason=exc.message, backup_id=backup_id)
        done.problems.append(f"{trigger} to {target} failed: {exc.message}" if trigger == "replication"
                             else f"{trigger} failed: {exc.message}")
    else:
        ended = record.finished("ok", time.monotonic() - started, bytes=size, reason=note, backup_id=backup_id)
    history.append(ended)
    done.records.append(ended)
