"""Applying a retention plan: plan each target's backups of a profile (engine/retention.py), then delete.

Which backups are a profile's: on each target, those whose recorded metadata names the profile's
database, and those whose database is not known yet (a name-only record, e.g. after a catalog
rebuild) only when no other profile keeps its backups on that target. The profile's recovery sets
are planned with them, each set one unit (engine/sets/set_prune.py says which sets, and what becomes
of damaged and unfinished ones). Every deletion goes through `Console.delete` (a set's through
`delete_set`, manifest first; both refuse what is pinned) and is its own audit entry naming its plan
line and the rules; a deletion that fails does not stop the others, and the report says exactly which went.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.retention import PlanLine, RetentionPlan, Unit, plan_prune
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.sets.set_prune import delete_planned_set, sets_to_plan
from recovery_console.engine.state.locks import database_identity, database_lock
from recovery_console.engine.state.run_history import RunHistory
from recovery_console.errors import Cancelled, RecoveryError, UsageError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.models.retention import RetentionRules


class PruneRefused(RecoveryError):
    """A safety rule forbids pruning now (the last run failed); nothing was deleted."""


@dataclass(frozen=True)
class FailedDeletion:
    line: PlanLine
    error: RecoveryError


@dataclass
class PruneReport:
    """The plans, and for an applied prune which planned deletions happened and which did not."""

    profile: str
    dry_run: bool
    plans: list[RetentionPlan] = field(default_factory=list)
    deleted: list[PlanLine] = field(default_factory=list)
    failed: list[FailedDeletion] = field(default_factory=list)
    folders_kept: list[str] = field(default_factory=list)
    """Why a deleted set's folder stayed on its target (it holds files the set did not write), one per set."""

    @property
    def complete(self) -> bool:
        return not self.failed


def profile_database(profile: Profile) -> str:
    """The database name the profile's URL names ('' when it names none)."""
    return database_identity(_lock_url(profile)).split("/", 1)[-1]


def _lock_url(profile: Profile) -> str:
    return profile.dump_url() if profile.declared else profile.database_url


def profile_records(console: Console, profile: Profile, target: str) -> list[BackupRecord]:
    """The backups of `profile` on `target` as the catalog knows them (see the module docstring)."""
    database = profile_database(profile)
    shared = target_shared(console, profile, target)
    chosen = []
    for record in console.catalog.records([target]):
        named = record.metadata.database if record.metadata is not None else None
        if named == database or (named is None and not shared):
            chosen.append(record)
    return chosen


def target_shared(console: Console, profile: Profile, target: str) -> bool:
    """Whether another profile keeps its backups on `target`."""
    return any(other.target == target for other in console.profiles.store.load().values()
               if other.name != profile.name)


def plan(console: Console, profile_name: str, rules: RetentionRules, targets: list[str] | None = None,
         *, sync: bool = True, made: str | None = None) -> list[RetentionPlan]:
    """The plan for each target (default: the profile's own), listed from the target first: its backups and sets
    by the rules, then the sets no rule counts (damaged, unfinished); `made` (a run's new backup or set) kept."""
    profile = console.profiles.store.get(profile_name)
    names = [console.targets.resolve(name).name for name in (targets or _default_targets(profile))]
    plans = []
    for name in names:
        if sync:
            console.sync(name)
        pinned = console.pins.by_key(name)
        sets = sets_to_plan(console, profile.name, name, target_shared(console, profile, name), pinned, sync=sync)
        units: list[Unit] = [*profile_records(console, profile, name), *sets.counted]
        planned = plan_prune(name, units, rules, pinned, made)
        plans.append(RetentionPlan(name, rules, [*planned.lines, *sets.aside]))
    return plans


def _default_targets(profile: Profile) -> list[str]:
    if not profile.target:
        raise UsageError(f"Profile '{profile.name}' has no backup target to prune.",
                         hint="Choose the target its backups go to in the profile's settings.",
                         cli_hint="Name one with --target, or set the profile's target.")
    return [profile.target]


def latest_run_failed(console: Console, profile_name: str) -> bool:
    """Whether the profile's latest backup run (scheduled or 'Run now') that ran to an end failed."""
    ended = [r for r in RunHistory(console.paths).records(profile_name)
             if r.trigger in ("scheduled", "manual") and r.result not in ("running", "busy")]
    return bool(ended) and ended[-1].result == "failed"


def prune(console: Console, profile_name: str, rules: RetentionRules, targets: list[str] | None = None, *,
          dry_run: bool = False, last_run_failed: bool | None = None, lock_held: bool = False,
          made: str | None = None, reporter: Reporter | None = None) -> PruneReport:
    """Plan and (unless `dry_run`) apply a prune of the profile's backups on each target.

    Refused when the last run failed (`last_run_failed`, read from the run history unless the caller, a run
    that just succeeded, says): a failing schedule must not also thin out the backups it could not replace.
    `lock_held` says the caller (run-due) already holds the profile's database lock; `made` is the key of the
    backup (or set) that run just made, which the plan keeps whatever the rules say.
    """
    profile = console.profiles.store.get(profile_name)
    report = PruneReport(profile_name, dry_run)
    failed = latest_run_failed(console, profile_name) if last_run_failed is None else last_run_failed
    with console.audited("backup.prune", profile_name, {"rules": rules.summary(), "dry_run": dry_run}) as detail:
        if failed:
            raise PruneRefused(f"Not pruning profile '{profile_name}': its last backup run failed, and pruning now "
                               "could leave fewer good backups than the rules promise. Nothing was deleted.",
                               hint="Fix the failing run and let a backup succeed; the next prune then goes ahead.")
        with nullcontext() if lock_held or dry_run else _profile_lock(console, profile):
            report.plans = plan(console, profile_name, rules, targets, made=made)
            if not dry_run:
                for target_plan in report.plans:
                    _apply(console, target_plan, report, reporter or Reporter())
        detail.update(kept=sum(len(p.kept) for p in report.plans), deleted=len(report.deleted),
                      failed=len(report.failed), ok=report.complete, folders_kept=len(report.folders_kept))
    return report


@contextmanager
def _profile_lock(console: Console, profile: Profile) -> Iterator[None]:
    identity = database_identity(_lock_url(profile))
    with database_lock(console.paths, identity, "prune", identity.split("/", 1)[-1] or profile.name):
        yield


def _apply(console: Console, target_plan: RetentionPlan, report: PruneReport, reporter: Reporter) -> None:
    storage = console.storage(target_plan.target)
    for line in target_plan.deleted:
        reporter.token.raise_if_cancelled()
        why = {"by": "prune", "profile": report.profile, "plan": line.text,
               "rule": f"not kept by: {target_plan.rules.summary()}"}
        try:
            if isinstance(line.record, SetRecord):
                if kept := delete_planned_set(console, line.record, why):
                    report.folders_kept.append(kept)
            else:
                assert isinstance(line.record, BackupRecord)
                console.delete(BackupRef(storage.location(line.record.key), line.record, storage), why)
        except Cancelled:
            raise
        except RecoveryError as exc:
            report.failed.append(FailedDeletion(line, exc))
        else:
            report.deleted.append(line)
