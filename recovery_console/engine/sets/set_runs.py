"""A policy run of a profile with members (engine/run_due.py calls these under `set_backup.set_locks`): the recovery
set made, read back from its target and verified member by member, then what follows it (`follow_ups`), as
engine/after_backup.py does for a single backup and through its steps: the set copied whole to each secondary target
(engine/sets/set_copy.py), then the sets an earlier run left uncopied there, then the prune of the profile's backups
and sets on every target the policy writes to, keeping the set just made (engine/prune.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from recovery_console.engine.after_backup import FollowUps, prune_last, step, undone_copies
from recovery_console.engine.console import Console
from recovery_console.engine.pg import postgres
from recovery_console.engine.progress import Reporter
from recovery_console.engine.retention import fully_verified
from recovery_console.engine.sets.set_backup import backup_set, plan_members
from recovery_console.engine.sets.set_catalog import COMPLETE, SetRecord
from recovery_console.engine.sets.set_copy import copy_set
from recovery_console.engine.sets.set_listing import find_set, verify_set
from recovery_console.engine.state.run_history import RunHistory
from recovery_console.errors import Cancelled, DatabaseError, RecoveryError
from recovery_console.models.policy import Policy
from recovery_console.models.profile import Profile


def back_up_and_verify(console: Console, profile: Profile, trigger: str, secret: str | None,
                       reporter: Reporter | None, clock: Callable[[], datetime],
                       made: Callable[[SetRecord], None]) -> SetRecord:
    """The set made (the caller holds every member database's lock), `made` told of it at once (so the run history
    names it even if the verify is cut short), then fully verified from the target: a set that does not verify
    fails the run."""
    secret = secret if secret is not None else console.profiles.instance_secret(profile.name)
    record = backup_set(console, profile.name, mode="scheduled" if trigger == "scheduled" else "manual",
                        secret=secret, reporter=reporter, now=clock, lock_held=True)
    made(record)
    try:
        verify_set(console, record, secret, reporter)
    except Cancelled:
        raise
    except RecoveryError as exc:
        failed = RecoveryError(f"The new set {record.short_id} did not pass its verify: {exc.message}", hint=exc.hint)
        failed.exit_code = exc.exit_code
        raise failed from exc
    return record


def follow_ups(console: Console, history: RunHistory, profile: Profile, record: SetRecord,
               reporter: Reporter | None, clock: Callable[[], datetime]) -> FollowUps:
    """What a set run does after its verify, still under the locks: the set copied to each secondary target (and
    those earlier runs left uncopied), then the prune; each step its own run in the history, a failed one a problem
    of the run (which then prunes nothing)."""
    policy = profile.policy or Policy()
    done = FollowUps()
    for target in policy.secondary_targets:
        step(history, done, "replication", profile, target, clock(),
             partial(_copy, console, record, target, reporter), set_id=record.set_id)
        for earlier in unfinished_set_copies(console, history, profile.name, target, record):
            step(history, done, "replication", profile, target, clock(),
                 partial(_copy, console, earlier, target, reporter), set_id=earlier.set_id)
    prune_last(console, history, done, profile, record.key, reporter, clock)
    return done


def unfinished_set_copies(console: Console, history: RunHistory, profile: str, target: str,
                          new: SetRecord) -> list[SetRecord]:
    """The complete, fully verified sets on the primary (`new`'s target) whose copy to `target` an earlier run left
    undone, oldest first; `new`, the set this run made, is copied anyway."""
    found = []
    for set_id in undone_copies(history, profile, target, new.set_id, field="set_id"):
        try:
            earlier = find_set(console, set_id, new.target)
        except RecoveryError:
            continue  # the id names more than one thing now: not guessed at
        if earlier is not None and earlier.state == COMPLETE and fully_verified(earlier):
            found.append(earlier)  # one pruned or deleted since is not there to copy
    return found


def _copy(console: Console, record: SetRecord, target: str, reporter: Reporter | None) -> tuple[int, str]:
    sent = copy_set(console, record, target, reporter)
    return sent.size, ("already there, checked" if sent.already else "")


def databases_size(console: Console, profile: Profile) -> int:
    """The bytes of every database of the set now (folders not counted): the free-space guard's estimate for a
    set's first run."""
    total = 0
    for member in plan_members(console, profile):
        if member.connection is None:
            continue
        try:
            with postgres.connect(member.connection.dump_url(), member.password) as conn:
                total += int(postgres.scalar(conn, "SELECT pg_database_size(current_database())"))
        except DatabaseError:
            continue  # the backup itself reports a database it cannot reach
    return total
