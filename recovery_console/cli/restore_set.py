"""`restore run SET …`: a recovery set's members restored (its own database in place as any backup; folders in
place by swap, or into a new folder); registered through restore_cmd."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from recovery_console.cli.common import emit, job
from recovery_console.engine.console import Console
from recovery_console.engine.restore import Restorer
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_members import manifest_of, member_ref, pick_member
from recovery_console.engine.sets.set_restore import open_set, plan_set_restore, preflight_set_restore, run_set_restore
from recovery_console.errors import ExitCode, UsageError
from recovery_console.models.profile import PRIMARY_MEMBER


def run_set(args: argparse.Namespace, app: Console, found: SetRecord, secret: str,
            confirm: Any, plan_lines: Any) -> int:
    """Restore the chosen members (default: all) through the engine's set restore; refused whole, before anything
    changes, when any cannot be."""
    plan = plan_set_restore(found, open_set(app, found, secret), args.profile, members=args.member,
                            through=member_profiles(args))
    if args.new_folder and len(plan.folders) != 1:
        raise UsageError("--new-folder takes one folder member; choose it with --member.")
    if args.new_database:
        raise UsageError("--new-database applies to single backups; a set's own database is restored in place.")
    if args.new_folder:
        plan = plan_set_restore(found, plan.manifest, args.profile, members=args.member, through=plan.through,
                                new_folders={plan.folders[0].name: Path(args.new_folder)})
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
    for failed in (c for c in checked if c.plan is not None and not c.plan.ready):
        emit(args, data, plan_lines(failed.plan) + [f"NOT restored: member {failed.member.name} failed its checks; "
                                                     "nothing was changed."])
        return ExitCode.VERIFY_FAILED
    with job(args) as reporter:
        result = run_set_restore(app, plan, checked, secret, exit_on_error=not args.continue_on_error,
                                 no_owner=args.no_owner, reporter=reporter)
    if result.error is not None:
        raise result.error
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
    if result.recorded is not None:
        lines.append(f"Undo the whole set with `recovery-console restore rollback --profile {args.profile} --set "
                     f"{plan.manifest.set_id}`.")
    emit(args, data, lines)
    return ExitCode.OK


def preflight_set(args: argparse.Namespace, app: Console, found: SetRecord, secret: str, plan_lines: Any) -> int:
    """What `restore run SET` would do, member by member, changing nothing: the profile's own database through the
    usual pre-flight, each folder's place, and what this release cannot restore."""
    lines = [f"Set {found.set_id}: {found.state}" + (f" ({'; '.join(found.problems)})" if found.problems else "")]
    if found.state == DAMAGED:
        emit(args, {"set": found.as_dict(), "ready": False}, lines + ["NOT ready: a damaged set is never restored."])
        return ExitCode.VERIFY_FAILED
    manifest = manifest_of(app, found, secret)
    ready = manifest.profile == args.profile
    if not ready:
        lines.append(f"  FAIL  profile: the set was made from profile '{manifest.profile}', not '{args.profile}'")
    chosen = [pick_member(manifest, name) for name in (args.member or [m.name for m in manifest.members])]
    through = {**member_profiles(args), PRIMARY_MEMBER: args.profile}
    for member in chosen:
        if member.kind == "database" and member.name in through:
            with job(args) as reporter:
                plan = Restorer(app).preflight(through[member.name], member_ref(app, found, member), secret,
                                               jobs=args.jobs, verify_first=True,
                                               allow_other_database=args.allow_other_database, reporter=reporter)
            lines += plan_lines(plan)
            ready = ready and plan.ready
        elif member.kind == "folder":
            place = Path(member.folder) if member.folder else None  # None: imported from a tar, its folder unknown
            there = place is not None and place.is_dir() and not place.is_symlink()
            lines.append(f"  {'PASS' if there else 'WARN'}  folder {member.name}: " +
                         (f"{place} is replaced by swap, the previous one kept beside it" if there else
                          f"{place or 'its folder (imported from a tar)'} is not a folder here; restore it into "
                          "a new folder (--new-folder DIR)"))
        else:
            lines.append(f"  FAIL  database {member.name}: name the profile it restores through with --as-profile "
                         f"{member.name}=PROFILE (a profile of that database)")
            ready = False
    emit(args, {"set": found.as_dict(), "ready": ready}, lines + ["Ready to restore." if ready else "NOT ready."])
    return ExitCode.OK if ready else ExitCode.VERIFY_FAILED


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
