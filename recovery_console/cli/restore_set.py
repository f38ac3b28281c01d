"""`restore preflight|run SET …`: a recovery set's members checked, then restored (its own database in place as any
backup; folders in place by swap, or into a new folder); registered through restore_cmd."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from recovery_console.cli.common import emit, job
from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_restore import (
    NO_ROUTE,
    MemberPreflight,
    SetRestorePlan,
    open_set,
    plan_set_restore,
    preflight_set_restore,
    run_set_restore,
)
from recovery_console.errors import ExitCode, UsageError
from recovery_console.models.profile import PRIMARY_MEMBER


def run_set(args: argparse.Namespace, app: Console, found: SetRecord, secret: str,
            confirm: Any, plan_lines: Any) -> int:
    """Restore the chosen members (default: all) through the engine's set restore; refused whole, before anything
    changes, when any cannot be."""
    plan = _plan(args, app, found, secret, require_routes=True)
    what = [f"database '{m.database}' (member {m.name})" for m in plan.databases]
    what += [f"folder {m.folder} (member {m.name})" if not args.new_folder else f"new folder {args.new_folder}"
             for m in plan.folders]
    if not args.yes:
        confirm(f"This restores set {plan.manifest.set_id} (each member its own snapshot): {'; '.join(what)}. "
                "Whatever is replaced is kept beside it. Type RESTORE to go on: ", "RESTORE")
    data: dict[str, Any] = {"set_id": plan.manifest.set_id, "members": []}
    with job(args) as reporter:  # every database's checks pass before any changes
        checked = preflight_set_restore(app, plan, secret, jobs=args.jobs,
                                        allow_other_database=args.allow_other_database, reporter=reporter)
    for failed in (c for c in checked if not c.ready):
        emit(args, data, _member_lines(failed, plan_lines) + [f"NOT restored: member {failed.member.name} failed its "
                                                              "checks; nothing was changed."])
        return ExitCode.VERIFY_FAILED
    with job(args) as reporter:
        result = run_set_restore(app, plan, checked, secret, exit_on_error=not args.continue_on_error,
                                 no_owner=args.no_owner, reporter=reporter)
    lines: list[str] = []
    for outcome in result.members:
        if outcome.restore is not None:
            done = outcome.restore
            lines.append(f"Restored database {done.database} (member {outcome.member.name}) through profile "
                         f"{outcome.profile}; the previous one is kept as {done.previous} (`restore rollback "
                         f"--profile {outcome.profile}` brings it back).")
            data["members"].append({"name": outcome.member.name, "profile": outcome.profile,
                                    **dataclasses.asdict(done)})
        elif outcome.folder is not None:
            folder = outcome.folder
            kept = f"; the previous folder is kept as {folder.kept_previous}" if folder.kept_previous else ""
            lines.append(f"Restored folder {folder.folder} (member {outcome.member.name}): {folder.files} "
                         f"files{kept}.")
            lines += [f"REFUSED   {why} (nothing written for it)" for why in folder.refused]
            data["members"].append({"name": outcome.member.name, "folder": str(folder.folder),
                                    "files": folder.files, "refused": folder.refused,
                                    "kept_previous": str(folder.kept_previous) if folder.kept_previous else None})
    if result.error is not None:  # what was replaced before the failure is said before the failure itself
        lines.append(f"STOPPED at member {result.stopped_at}: the members above were restored and stay so"
                     if result.members else f"STOPPED at member {result.stopped_at}: no member was restored")
        lines += [f"NOT STARTED: {', '.join(result.not_started)}"] if result.not_started else []
        data.update(stopped_at=result.stopped_at, error=result.error.message, not_started=result.not_started)
    if result.recorded is not None:
        lines.append(f"Undo the whole set with `recovery-console restore rollback --profile {args.profile} --set "
                     f"{plan.manifest.set_id}`.")
    emit(args, data, lines)
    if result.error is not None:
        raise result.error
    return ExitCode.OK


def preflight_set(args: argparse.Namespace, app: Console, found: SetRecord, secret: str, plan_lines: Any) -> int:
    """What `restore run SET` would do, member by member, changing nothing: the engine's set pre-flight with every
    member checked (a database without a profile to go through, or a folder with nowhere to go, fails its line)."""
    lines = [f"Set {found.set_id}: {found.state}" + (f" ({'; '.join(found.problems)})" if found.problems else "")]
    if found.state == DAMAGED:
        emit(args, {"set": found.as_dict(), "ready": False}, lines + ["NOT ready: a damaged set is never restored."])
        return ExitCode.VERIFY_FAILED
    plan = _plan(args, app, found, secret, require_routes=False)
    with job(args) as reporter:
        checked = preflight_set_restore(app, plan, secret, jobs=args.jobs,
                                        allow_other_database=args.allow_other_database, reporter=reporter,
                                        stop_at_failure=False)
    members: list[dict[str, Any]] = []
    for each in checked:
        lines += _member_lines(each, plan_lines)
        members.append({"name": each.member.name, "ready": each.ready, "profile": each.profile,
                        "checks": [dataclasses.asdict(c) for c in (each.plan.checks if each.plan else each.checks)]})
    ready = all(each.ready for each in checked)
    emit(args, {"set": found.as_dict(), "ready": ready, "members": members},
         lines + ["Ready to restore." if ready else "NOT ready."])
    return ExitCode.OK if ready else ExitCode.VERIFY_FAILED


def _member_lines(checked: MemberPreflight, plan_lines: Any) -> list[str]:
    """A member's pre-flight as lines: a database's restore plan, or a folder's (or an unroutable database's) check."""
    lines = plan_lines(checked.plan) if checked.plan is not None else []
    return lines + [f"  {c.status.upper()}  {c.name}: {c.detail}" +
                    (f" (--as-profile {checked.member.name}=PROFILE)" if c.detail == NO_ROUTE else "")
                    for c in checked.checks]


def _plan(args: argparse.Namespace, app: Console, found: SetRecord, secret: str, *,
          require_routes: bool) -> SetRestorePlan:
    """The members chosen on the command line, the profile each goes through and the one new folder, if named."""
    if args.new_database:
        raise UsageError("--new-database applies to single backups; a set's own database is restored in place.")
    app.profiles.store.get(args.profile)  # a profile that exists: its history keeps what the restore replaces
    manifest = open_set(app, found, secret)
    plan = plan_set_restore(found, manifest, args.profile, members=args.member, through=member_profiles(args),
                            require_routes=require_routes)
    if not args.new_folder:
        return plan
    if len(plan.folders) != 1:
        raise UsageError("--new-folder takes one folder member; choose it with --member.")
    return plan_set_restore(found, manifest, args.profile, members=args.member, through=member_profiles(args),
                            new_folders={plan.folders[0].name: Path(args.new_folder)}, require_routes=require_routes)


def member_profiles(args: argparse.Namespace) -> dict[str, str]:
    """The stored profile each database member other than `main` restores through, from `--as-profile MEMBER=PROFILE`
    (its URL, password, restore history and rollback); `main` restores through --profile."""
    through: dict[str, str] = {}
    for pair in args.as_profile or []:
        member, sep, profile = pair.partition("=")
        if not sep or not member or not profile or member == PRIMARY_MEMBER:
            raise UsageError(f"--as-profile takes MEMBER=PROFILE for a database member other than "
                             f"{PRIMARY_MEMBER}, not {pair!r}.")
        through[member] = profile
    return through
