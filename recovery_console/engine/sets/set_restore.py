"""A recovery set restored (#18): which members, through which profiles, each folder in place or into a new folder;
every database member's pre-flight before anything changes; then the databases, then the folders.

The CLI's `restore run SET` and the restore wizard call the same functions: `plan_set_restore` (pure, the
choices validated), `preflight_set_restore` (the checks, nothing changed) and `run_set_restore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.pg import postgres
from recovery_console.engine.progress import Reporter
from recovery_console.engine.restore import Restorer, RestoreResult
from recovery_console.engine.restore_preflight import Check, RestorePlan
from recovery_console.engine.sets.manifest import ManifestMember, SetManifest
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_members import extract_folder_member, manifest_of, member_ref, pick_member
from recovery_console.engine.sets.set_restores import SetRestore, record_set_restore, restores
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.errors import IntegrityError, RecoveryError, UsageError
from recovery_console.models.profile import PRIMARY_MEMBER

CHECKING, WAITING, RESTORING, RESTORED, FAILED = "checking", "waiting", "restoring", "restored", "failed"
NO_ROUTE = "no profile to restore it through; choose a profile of that database, or leave the member out"


@dataclass(frozen=True)
class MemberStep:
    """A member's stage as a set job goes (checking, restoring, restored, failed), for a per-member view."""

    member: str
    stage: str
    detail: str = ""


StepSink = Callable[[MemberStep], None]


@dataclass(frozen=True)
class SetRestorePlan:
    """The chosen members of one complete set, the profile each database member restores through, and where each
    folder member goes (a new folder, else in place)."""

    record: SetRecord
    manifest: SetManifest
    profile: str
    members: tuple[ManifestMember, ...]
    through: Mapping[str, str]
    new_folders: Mapping[str, Path] = field(default_factory=dict)

    @property
    def databases(self) -> list[ManifestMember]:
        return [m for m in self.members if m.kind == "database"]

    @property
    def folders(self) -> list[ManifestMember]:
        return [m for m in self.members if m.kind == "folder"]

    def folder_destination(self, member: ManifestMember) -> Path:
        """Where a folder member is written: its new folder, or the folder it was taken from."""
        return self.new_folders.get(member.name) or Path(member.folder or "")


@dataclass
class MemberPreflight:
    """One chosen member's checks: a database's restore pre-flight, or a folder's destination check."""

    member: ManifestMember
    profile: str | None = None
    plan: RestorePlan | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.plan.ready if self.plan is not None else not any(c.blocking for c in self.checks)


@dataclass
class MemberOutcome:
    """What became of one member: its database restore or its folder extraction (None: not reached)."""

    member: ManifestMember
    profile: str | None = None
    restore: RestoreResult | None = None
    folder: Extracted | None = None


@dataclass
class SetRestoreResult:
    """The members restored, in order; `error` and `stopped_at` when one failed or was cancelled (those before it
    stay restored, the rest were not started)."""

    set_id: str
    members: list[MemberOutcome] = field(default_factory=list)
    error: RecoveryError | None = None
    stopped_at: str | None = None
    not_started: list[str] = field(default_factory=list)
    recorded: str | None = None
    """The id under which what the members kept is remembered for a rollback of the whole set (set_restores)."""


def refuse_damaged(record: SetRecord) -> None:
    """A damaged set is never restored as a whole."""
    if record.state == DAMAGED:
        raise IntegrityError(f"Set {record.set_id} is damaged ({'; '.join(record.problems)}); it is never restored "
                             "as a whole.", hint="Restore from another set, or take the intact members one by one.",
                             cli_hint="Restore another set, or decrypt the intact members one by one "
                                      "(`decrypt SET --member NAME -o OUT`).")


def open_set(console: Console, record: SetRecord, secret: str) -> SetManifest:
    """The manifest of a set that may be restored (a damaged one is refused first)."""
    refuse_damaged(record)
    return manifest_of(console, record, secret)


def plan_set_restore(record: SetRecord, manifest: SetManifest, profile: str, *,
                     members: Sequence[str] | None = None, through: Mapping[str, str] | None = None,
                     new_folders: Mapping[str, Path] | None = None, require_routes: bool = True) -> SetRestorePlan:
    """The choices checked, nothing read or changed: the set's own profile, members it holds (default: all), a profile
    for each database member (`main` restores through `profile`), new folders only for chosen folder members.
    Without `require_routes` a database member with no profile stays in the plan and fails its pre-flight."""
    refuse_damaged(record)
    if manifest.profile and manifest.profile != profile:  # none: imported with a target only, any profile takes it
        raise UsageError(f"Set {manifest.set_id} was made from profile '{manifest.profile}', not '{profile}'.",
                         hint="Name the profile the set belongs to; nothing was changed.")
    names = list(members) if members is not None else [m.name for m in manifest.members]
    if not names:
        raise UsageError("No member of the set is chosen; nothing was changed.", hint="Choose at least one member.")
    chosen = tuple(pick_member(manifest, name) for name in names)
    routes = {**dict(through or {}), PRIMARY_MEMBER: profile}
    missing = [m.name for m in chosen if m.kind == "database" and not routes.get(m.name)]
    if missing and require_routes:
        raise UsageError(f"No profile to restore through for the database members {', '.join(missing)}; nothing "
                         "was changed.", hint="Choose for each a profile of that database (its history keeps the "
                                              "previous database), or leave the member out.",
                         cli_hint="Give --as-profile MEMBER=PROFILE for each (a profile of that database, whose "
                                  "history keeps the previous database), or choose members with --member.")
    folders = {m.name for m in chosen if m.kind == "folder"}
    for name in new_folders or {}:
        if name not in folders:
            raise UsageError(f"Member '{name}' is not a chosen folder member; only those go into a new folder.")
    return SetRestorePlan(record, manifest, profile, chosen,
                          {m.name: routes[m.name] for m in chosen if m.kind == "database" and routes.get(m.name)},
                          {name: Path(path) for name, path in (new_folders or {}).items()})


def member_profile_choices(console: Console, member: ManifestMember) -> list[str]:
    """The stored profiles a database member could restore through: those of a database of its name."""
    found = []
    for name, profile in console.profiles.store.load().items():
        if profile.declared and postgres.parse(profile.dump_url()).get("dbname") == member.database:
            found.append(name)
    return found


def folder_check(plan: SetRestorePlan, member: ManifestMember) -> Check:
    """Whether a folder member's destination can take it: a new folder must not exist, an in-place one must."""
    place = plan.folder_destination(member)
    if member.name not in plan.new_folders and not member.folder:  # never '.': the working directory is not swapped
        return Check(f"folder {member.name}", "fail", "imported from a tar file, the folder it came from is unknown; "
                                                      "restore it into a new folder")
    if member.name in plan.new_folders:
        if place.exists() or place.is_symlink():
            return Check(f"folder {member.name}", "fail", f"{place} already exists; choose a new folder")
        if not place.parent.is_dir():
            return Check(f"folder {member.name}", "fail", f"{place.parent} is not a folder to create {place.name} in")
        return Check(f"folder {member.name}", "pass", f"extracted into the new folder {place}")
    if place.is_dir() and not place.is_symlink():
        return Check(f"folder {member.name}", "pass",
                     f"{place} is replaced by swap, the previous one kept beside it as {place.name}.pre_restore_<time>")
    return Check(f"folder {member.name}", "fail", f"{place} is not a folder here; restore it into a new folder")


def preflight_set_restore(console: Console, plan: SetRestorePlan, secret: str, *, jobs: int = 1,
                          verify_first: bool = True, allow_other_database: bool = False,
                          reporter: Reporter | None = None, on_step: StepSink | None = None,
                          stop_at_failure: bool = True) -> list[MemberPreflight]:
    """Every chosen database member's restore pre-flight (the member verified in full), then each folder's check;
    nothing changes. With `stop_at_failure`, the first member not ready ends the checks."""
    restores(console.paths, plan.profile)  # the record a whole-set rollback needs must be writable: readable first
    found: list[MemberPreflight] = []
    for member in plan.databases:
        _step(on_step, member.name, CHECKING)
        profile = plan.through.get(member.name)
        if profile is None:
            found.append(MemberPreflight(member, checks=[Check(f"database {member.name}", "fail", NO_ROUTE)]))
            _step(on_step, member.name, FAILED, NO_ROUTE)
            if stop_at_failure:
                return found
            continue
        checked = Restorer(console).preflight(profile, member_ref(console, plan.record, member), secret, jobs=jobs,
                                              verify_first=verify_first, allow_other_database=allow_other_database,
                                              reporter=reporter)
        found.append(MemberPreflight(member, profile, checked))
        _step(on_step, member.name, WAITING if checked.ready else FAILED)
        if stop_at_failure and not checked.ready:
            return found
    for member in plan.folders:
        check = folder_check(plan, member)
        found.append(MemberPreflight(member, checks=[check]))
        _step(on_step, member.name, WAITING if not check.blocking else FAILED, check.detail)
    return found


def run_set_restore(console: Console, plan: SetRestorePlan, preflights: Sequence[MemberPreflight], secret: str, *,
                    exit_on_error: bool = True, no_owner: bool = False, reporter: Reporter | None = None,
                    on_step: StepSink | None = None) -> SetRestoreResult:
    """The databases restored (scratch, check, swap; each previous one kept), then the folders; refused before
    anything changes unless every chosen member passed its pre-flight. A member that fails or is cancelled ends
    the job there: the result says what was restored before it and what was not started."""
    restores(console.paths, plan.profile)  # a damaged record of set restores stops the restore before any change
    by_name = {p.member.name: p for p in preflights}
    unchecked = [m.name for m in plan.members if m.name not in by_name or not by_name[m.name].ready]
    if unchecked:
        raise UsageError(f"Members {', '.join(unchecked)} did not pass their pre-flight checks; nothing was changed.")
    for member in plan.folders:  # a folder made or removed since its check is refused before any change
        check = folder_check(plan, member)
        if check.blocking:
            raise UsageError(f"Member {member.name}: {check.detail}; nothing was changed.")
    result = SetRestoreResult(plan.manifest.set_id)
    recorded: SetRestore | None = None  # what the members restored so far kept, for a rollback of the whole set
    order = plan.databases + plan.folders
    with console.audited("set.restore", plan.manifest.set_id,
                         {"target": plan.record.target, "set": plan.record.folder,
                          "members": [m.name for m in order]}) as detail:
        for index, member in enumerate(order):
            _step(on_step, member.name, RESTORING)
            try:
                outcome = _restore_member(console, plan, by_name[member.name], secret, exit_on_error, no_owner,
                                          reporter)
            except RecoveryError as exc:
                result.error, result.stopped_at = exc, member.name
                result.not_started = [m.name for m in order[index + 1:]]
                _step(on_step, member.name, FAILED, exc.message)
                break
            result.members.append(outcome)
            # Recorded at once, not at the end: after a kill later on, what was replaced still rolls back as one.
            recorded = record_set_restore(console, plan.manifest.set_id, plan.profile,
                                          [_reported(o) for o in result.members], recorded)
            _step(on_step, member.name, RESTORED)
        detail.update(restored=[o.member.name for o in result.members], stopped_at=result.stopped_at)
        if result.error is not None:
            detail.update(ok=False, error=result.error.message)
    result.recorded = recorded.id if recorded is not None else None
    return result


def _reported(outcome: MemberOutcome) -> dict[str, str | None]:
    """A restored member as set_restores.record_set_restore reads it."""
    if outcome.restore is not None:
        return {"name": outcome.member.name, "profile": outcome.profile, "previous": outcome.restore.previous}
    assert outcome.folder is not None
    kept = outcome.folder.kept_previous
    return {"name": outcome.member.name, "folder": str(outcome.folder.folder),
            "kept_previous": str(kept) if kept else None}


def _restore_member(console: Console, plan: SetRestorePlan, checked: MemberPreflight, secret: str,
                    exit_on_error: bool, no_owner: bool, reporter: Reporter | None) -> MemberOutcome:
    member = checked.member
    if member.kind == "database":
        assert checked.plan is not None
        done = Restorer(console).run(checked.plan, secret, exit_on_error=exit_on_error, no_owner=no_owner,
                                     reporter=reporter)
        return MemberOutcome(member, checked.profile, restore=done)
    new = plan.new_folders.get(member.name)
    folder = extract_folder_member(console, plan.record, member.name, secret, into=new, in_place=new is None,
                                   reporter=reporter)
    return MemberOutcome(member, folder=folder.extracted)


def _step(sink: StepSink | None, member: str, stage: str, detail: str = "") -> None:
    if sink is not None:
        sink(MemberStep(member, stage, detail))
