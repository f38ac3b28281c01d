"""A policy run of a profile with members (engine/run_due.py calls these under `set_backup.set_locks`): the recovery
set made, read back from its target and verified member by member, then what follows it.

Copies of a set to the policy's secondary targets and the prune of sets are not made here yet: `follow_ups` is
their one call point, and until they exist it names each configured step it did not do as a problem of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from recovery_console.engine.after_backup import FollowUps
from recovery_console.engine.console import Console
from recovery_console.engine.pg import postgres
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_backup import backup_set, plan_members
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.sets.set_listing import verify_set
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
    """What a set run does after its verify, still under the locks: the call point for copying the set to the
    secondary targets and pruning the profile's sets. Neither exists yet, so each one the policy asks for is
    reported as not done."""
    policy = profile.policy or Policy()
    done = FollowUps()
    if policy.secondary_targets:
        done.problems.append(f"set {record.short_id} not copied to {', '.join(policy.secondary_targets)}: copies "
                             "of recovery sets are not made by scheduled runs yet")
    if not policy.retention.keeps_everything:
        done.problems.append("not pruned: recovery sets are not pruned by scheduled runs yet")
    return done


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
