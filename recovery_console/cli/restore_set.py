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
from recovery_console.engine.sets.manifest import ManifestMember
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_members import extract_folder_member, manifest_of, member_ref, pick_member
from recovery_console.engine.sets.set_restores import record_set_restore
from recovery_console.errors import ExitCode, IntegrityError, UsageError
from recovery_console.models.profile import PRIMARY_MEMBER


def run_set(args: argparse.Namespace, app: Console, found: SetRecord, secret: str,
            confirm: Any, plan_lines: Any) -> int:
    """Restore the chosen members (default: all); refused whole, before anything changes, when any cannot be."""
    if found.state == DAMAGED:
        raise IntegrityError(f"Set {found.set_id} is damaged ({'; '.join(found.problems)}); it is never restored "
                             "as a whole.", hint="Restore from another set, or take the intact members one by one.",
                             cli_hint="Restore another set, or decrypt the intact members one by one "
                                      "(`decrypt SET --member NAME -o OUT`).")
    manifest = manifest_of(app, found, secret)
    if manifest.profile != args.profile:
        raise UsageError(f"Set {manifest.set_id} was made from profile '{manifest.profile}', not '{args.profile}'.",
                         hint="Name the profile the set belongs to; nothing was changed.")
    chosen = [pick_member(manifest, name) for name in (args.member or [m.name for m in manifest.members])]
    through = member_profiles(args, chosen)
    folders = [m for m in chosen if m.kind == "folder"]
    if args.new_folder and len(folders) != 1:
        raise UsageError("--new-folder takes one folder member; choose it with --member.")
    if args.new_database:
        raise UsageError("--new-database applies to single backups; a set's own database is restored in place.")
    what = [f"database '{m.database}' (member {m.name})" for m in chosen if m.kind == "database"]
    what += [f"folder {m.folder} (member {m.name})" if not args.new_folder else f"new folder {args.new_folder}"
             for m in folders]
    if not args.yes:
        confirm(f"This restores set {manifest.set_id} (each member its own snapshot): {'; '.join(what)}. Whatever "
                "is replaced is kept beside it. Type RESTORE to go on: ", "RESTORE")
    lines: list[str] = []
    data: dict[str, Any] = {"set_id": manifest.set_id, "members": []}
    plans = []
    for member in (m for m in chosen if m.kind == "database"):  # every database's checks pass before any changes
        restorer = Restorer(app)
        with job(args) as reporter:
            plan = restorer.preflight(through[member.name], member_ref(app, found, member), secret, jobs=args.jobs,
                                      verify_first=True, allow_other_database=args.allow_other_database,
                                      reporter=reporter)
        if not plan.ready:
            emit(args, data, plan_lines(plan) + [f"NOT restored: member {member.name} failed its checks; nothing "
                                                  "was changed."])
            return ExitCode.VERIFY_FAILED
        plans.append((member, restorer, plan))
    for member, restorer, plan in plans:
        with job(args) as reporter:
            result = restorer.run(plan, secret, exit_on_error=not args.continue_on_error, no_owner=args.no_owner,
                                  reporter=reporter)
        lines.append(f"Restored database {result.database} (member {member.name}) through profile "
                     f"{through[member.name]}; the previous one is kept as {result.previous} (`restore rollback "
                     f"--profile {through[member.name]}` brings it back).")
        data["members"].append({"name": member.name, "profile": through[member.name], **dataclasses.asdict(result)})
    for member in folders:
        with job(args) as reporter:
            done = extract_folder_member(app, found, member.name, secret,
                                         into=Path(args.new_folder) if args.new_folder else None,
                                         in_place=not args.new_folder, reporter=reporter).extracted
        kept = f"; the previous folder is kept as {done.kept_previous}" if done.kept_previous else ""
        lines.append(f"Restored folder {done.folder} (member {member.name}): {done.files} files{kept}.")
        lines += [f"REFUSED   {why} (nothing written for it)" for why in done.refused]
        data["members"].append({"name": member.name, "folder": str(done.folder), "files": done.files,
                                "refused": done.refused,
                                "kept_previous": str(done.kept_previous) if done.kept_previous else None})
    if record_set_restore(app, manifest.set_id, args.profile, data["members"]):
        lines.append(f"Undo the whole set with `recovery-console restore rollback --profile {args.profile} --set "
                     f"{manifest.set_id}`.")
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
    through = member_profiles(args, chosen, strict=False)
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


def member_profiles(args: argparse.Namespace, chosen: list[ManifestMember], strict: bool = True) -> dict[str, str]:
    """The stored profile each chosen database member restores through: the set's own profile for `main`, and
    `--as-profile MEMBER=PROFILE` for the others (its URL, password, restore history and rollback)."""
    through = {PRIMARY_MEMBER: args.profile}
    for pair in args.as_profile or []:
        member, sep, profile = pair.partition("=")
        if not sep or not member or not profile or member == PRIMARY_MEMBER:
            raise UsageError(f"--as-profile takes MEMBER=PROFILE for a database member other than "
                             f"{PRIMARY_MEMBER}, not {pair!r}.")
        through[member] = profile
    missing = [m.name for m in chosen if m.kind == "database" and m.name not in through]
    if missing and strict:
        raise UsageError(f"No profile to restore through for the database members {', '.join(missing)}; nothing "
                         "was changed.", hint="Give --as-profile MEMBER=PROFILE for each (a profile of that database, "
                                          "whose history keeps the previous database), or choose members with "
                                          "--member.")
    return through
