"""`recovery-console restore …`: pre-flight, safe in-place or new-database restore, rollback, and the history."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from recovery_console.cli.common import (
    add_json,
    add_secret_options,
    console,
    emit,
    job,
    printable,
    secret_from,
    secret_to_open,
    stop_if_asked,
)
from recovery_console.cli.restore_set import preflight_set, run_set
from recovery_console.cli.set_lookup import named_set
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_cleanup import clean_up
from recovery_console.engine.restore_kept import KEPT, drop_previous, history, rollback_entry
from recovery_console.engine.restore_preflight import RestorePlan
from recovery_console.engine.sets.set_restores import restores
from recovery_console.engine.sets.set_rollback import rollback_set
from recovery_console.engine.state import restore_journal
from recovery_console.errors import ExitCode, RecoveryError, UsageError
from recovery_console.formatting import format_bytes

ALLOW_OTHER = "--allow-other-database"
SWAP = "`recovery-console restore swap --profile {profile}` swaps it in"
CLI_STEPS = {  # the CLI's own words for what a pre-flight check says to do (the engine's detail names no command)
    "restored copy waiting": SWAP,
    "sessions this role cannot end": "with --new-database NAME",
}


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="restore_command", required=True, metavar="COMMAND")
    for name, func, helptext in (("preflight", cmd_preflight, "verify the backup and list every check; change nothing"),
                                 ("run", cmd_run, "restore (safe in-place by default: scratch copy, check, swap)")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("backup", help="a backup or recovery set id from `backup list`, TARGET:KEY, a file path, or "
                                        "a recovery set's name (the newest complete set of that name)")
        sub.add_argument("--profile", required=True)
        sub.add_argument("--target", help="look the id up on this target only")
        sub.add_argument("--new-database", metavar="NAME", help="restore into a new database instead of in place")
        sub.add_argument("--jobs", type=int, default=1,
                         help="parallel pg_restore jobs (decrypts to a private temp file)")
        sub.add_argument("--verify-first", action="store_true",
                         help="verify the whole backup before restoring even if the catalog shows a full verify of it")
        sub.add_argument(ALLOW_OTHER, action="store_true",
                         help="restore in place even though the backup is of another database (or records none)")
        add_secret_options(sub)
        add_json(sub)
        sub.set_defaults(func=func)
        sub.add_argument("--member", action="append", metavar="NAME",
                         help="a recovery set: restore this member only (repeatable; default: all)")
        sub.add_argument("--as-profile", action="append", metavar="MEMBER=PROFILE",
                         help="a recovery set's database member restores through this profile of its database "
                              "(repeatable; member main uses --profile)")
        sub.add_argument("--new-folder", metavar="DIR", help="a recovery set's folder member into this new folder "
                                                             "instead of in place")
        if name == "run":
            sub.add_argument("--yes", action="store_true", help="skip the typed RESTORE confirmation")
            sub.add_argument("--continue-on-error", action="store_true",
                             help="let pg_restore go on after an error (the restore still fails before any swap)")
            sub.add_argument("--no-owner", action="store_true", help="do not restore object ownership")
    rollback = commands.add_parser("rollback", help="swap the database kept before the last restore back in")
    rollback.add_argument("--profile", required=True)
    rollback.add_argument("--previous", metavar="NAME", help="the pre-restore database to bring back (default: newest)")
    rollback.add_argument("entry", nargs="?", metavar="ENTRY",
                          help="a restore from `restore history` (its id or kept database) to roll back")
    rollback.add_argument("--set", metavar="SET", dest="set_ref",
                          help="roll back the last restore of this recovery set through --profile: every member")
    rollback.add_argument("--yes", action="store_true")
    add_json(rollback)
    rollback.set_defaults(func=cmd_rollback)
    swap = commands.add_parser("swap", help="finish a restore whose swap was blocked: swap its checked copy in")
    swap.add_argument("--profile", required=True)
    swap.add_argument("--copy", metavar="NAME", help="the restored copy to swap in (default: the newest checked one)")
    swap.add_argument("--yes", action="store_true")
    add_json(swap)
    swap.set_defaults(func=cmd_swap)
    cleanup = commands.add_parser("cleanup", help="drop the databases failed restores made and could not drop "
                                                  "(as their journals record them); nothing else is touched")
    cleanup.add_argument("--profile", help="only what restores of this profile left (default: every profile)")
    add_json(cleanup)
    cleanup.set_defaults(func=cmd_cleanup)
    hist = commands.add_parser("history", help="the profile's restores: time, backup, result, the kept previous "
                                               "database and its size now")
    hist.add_argument("--profile", required=True)
    add_json(hist)
    hist.set_defaults(func=cmd_history)
    drop = commands.add_parser("drop", help="drop a previous database a restore kept (asks for its name typed)")
    drop.add_argument("--profile", required=True)
    drop.add_argument("previous", metavar="PREVIOUS", help="the kept database's name, or its restore's history id")
    drop.add_argument("--confirm", metavar="NAME", help="the kept database's name, typed again to confirm")
    add_json(drop)
    drop.set_defaults(func=cmd_drop)


def _secret(args: argparse.Namespace, profile: str) -> str:
    """A recovery set's secret: the one given, else the profile's newest."""
    if args.secret_key_file or args.secret_key_env or args.secret_keyring:
        return secret_from(args)
    return console().profiles.instance_secret(profile)


def _plan(args: argparse.Namespace) -> tuple[Restorer, RestorePlan, str]:
    app = console()
    restorer = Restorer(app)
    ref = app.locate(args.backup, args.target)
    with job(args) as reporter:
        secret = secret_to_open(args, app, ref, reporter)  # the profile's secrets tried, newest first
        plan = restorer.preflight(args.profile, ref, secret,
                                  new_database=args.new_database, jobs=args.jobs, verify_first=args.verify_first,
                                  allow_other_database=args.allow_other_database, reporter=reporter)
    return restorer, plan, secret


def _plan_lines(plan: RestorePlan) -> list[str]:
    marks = {"pass": "PASS", "fail": "FAIL", "warn": "WARN"}
    how = "into a new database" if plan.new_database else "safe in-place (scratch copy, check, swap; original kept)"
    return [f"Restore {plan.backup_id or plan.ref.location} → {plan.database}, {how}"] + [
        f"  {marks[c.status]}  {c.name}: {c.detail}"
        + (f" ({CLI_STEPS[c.name].format(profile=plan.profile.name)})" if c.name in CLI_STEPS else "")
        + (f" (needs {ALLOW_OTHER})" if c in plan.unacknowledged else " (acknowledged)" if c.needs_ack else "")
        for c in plan.checks]


def _plan_data(plan: RestorePlan) -> dict[str, Any]:
    return {"database": plan.database, "new_database": plan.new_database, "ready": plan.ready,
            "backup_id": plan.backup_id, "source_database": plan.source_database,
            "checks": [dataclasses.asdict(c) for c in plan.checks]}


def cmd_preflight(args: argparse.Namespace) -> int:
    app = console()
    found = named_set(app, args.backup, args.target)
    if found is not None:
        return preflight_set(args, app, found, _secret(args, args.profile), _plan_lines)
    if args.member or args.new_folder:
        raise UsageError("--member and --new-folder choose members of a recovery set; this is a single backup.")
    _, plan, _ = _plan(args)
    verdict = "Ready to restore." if plan.ready else "NOT ready: fix the failed checks."
    if plan.unacknowledged and not any(c.blocking for c in plan.checks):
        verdict = f"NOT ready: {_other_database(plan)}; pass {ALLOW_OTHER} to restore it anyway."
    emit(args, _plan_data(plan), _plan_lines(plan) + [verdict])
    return ExitCode.OK if plan.ready else ExitCode.VERIFY_FAILED


def _confirm(prompt: str, word: str) -> None:
    stop_if_asked()  # a Ctrl-C or SIGTERM during the pre-flight: not asked, not restored
    if not sys.stdin.isatty():
        raise UsageError("Refusing to go on without a typed confirmation (no terminal to ask at); nothing was changed.",
                         hint="Pass --yes to confirm non-interactively.")
    if input(prompt).strip() != word:
        raise UsageError("Not confirmed; nothing was changed.")


def cmd_run(args: argparse.Namespace) -> int:
    app = console()
    found = named_set(app, args.backup, args.target)
    if found is not None:
        return run_set(args, app, found, _secret(args, args.profile), _confirm, _plan_lines)
    if args.member or args.new_folder:
        raise UsageError("--member and --new-folder choose members of a recovery set; this is a single backup.")
    restorer, plan, secret = _plan(args)
    print("\n".join(printable(line) for line in _plan_lines(plan)), file=sys.stderr)
    if plan.unacknowledged and not any(c.blocking for c in plan.checks):
        raise UsageError(f"Not restored: {_other_database(plan)}; nothing was changed.",
                         hint=f"Pass {ALLOW_OTHER} if this is really the backup to restore into {plan.database}.")
    if plan.ready and not args.yes:
        _confirm(f"This replaces database '{plan.database}' with backup {plan.backup_id} (the current one is kept as "
                 f"{plan.pre_restore_name}). Type RESTORE to go on: " if not plan.new_database else
                 f"This creates database '{plan.database}' from backup {plan.backup_id}. Type RESTORE to go on: ",
                 "RESTORE")
    try:
        with job(args) as reporter:
            result = restorer.run(plan, secret, exit_on_error=not args.continue_on_error, no_owner=args.no_owner,
                                  reporter=reporter)
    except RecoveryError as exc:
        if not plan.new_database and plan.scratch_name in exc.hint:  # the checked copy was kept
            exc.cli_hint = f"{exc.hint_for_cli()} {SWAP.format(profile=args.profile)}."
        if any(j.problem for j in restore_journal.pending(restorer.console.paths, args.profile)):
            exc.cli_hint = (f"{exc.hint_for_cli()} When the server is back, run `recovery-console restore cleanup "
                            f"--profile {args.profile}`.").strip()
        raise
    lines = [f"Restored {result.database} with {result.tool}."]
    if result.previous:
        lines.append(f"The previous database is kept as {result.previous}; undo with "
                     f"`recovery-console restore rollback --profile {args.profile}`.")
    lines += [f"  {'OK ' if t.ok else 'BAD'}  {t.schema}.{t.table}: {t.restored_rows} rows (backup: {t.expected_rows})"
              for t in result.tables]
    emit(args, dataclasses.asdict(result), lines)
    return ExitCode.OK


def cmd_rollback(args: argparse.Namespace) -> int:
    if args.set_ref:
        return _rollback_set(args)
    if not args.yes:
        _confirm("Swap the pre-restore database back in (the restored one is kept)? Type ROLLBACK to go on: ",
                 "ROLLBACK")
    if args.entry and args.previous:
        raise UsageError("Give either a history entry or --previous, not both.")
    if args.entry:
        previous, undone = rollback_entry(console(), args.profile, args.entry)
    else:
        previous, undone = Restorer(console()).rollback(args.profile, args.previous)
    emit(args, {"restored_from": previous, "kept_as": undone},
         [f"Rolled back: {previous} is live again; the restored database is kept as {undone}."])
    return ExitCode.OK


def _rollback_set(args: argparse.Namespace) -> int:
    if args.entry or args.previous:
        raise UsageError("--set rolls back every member of the set's restore; give no entry or --previous with it.")
    if not args.yes:
        _confirm(f"Put every member of set {args.set_ref} back as it was before its restore (each restored database "
                 "and folder is kept beside it)? Type ROLLBACK to go on: ", "ROLLBACK")
    done = rollback_set(console(), args.profile, args.set_ref)
    lines = [f"Rolled back member {name}: the restored state is kept as {done.set_aside[name]}."
             for name in done.rolled_back]
    lines += [f"Member {name} was rolled back already." for name in done.already]
    emit(args, dataclasses.asdict(done), lines + [f"Set {done.set_id} is back as it was before its restore."])
    return ExitCode.OK


def cmd_swap(args: argparse.Namespace) -> int:
    if not args.yes:
        _confirm("Swap the restored copy in (the current database is kept)? Type RESTORE to go on: ", "RESTORE")
    copy, previous = Restorer(console()).swap(args.profile, args.copy)
    emit(args, {"swapped_in": copy, "previous": previous},
         [f"Swapped in {copy}; the previous database is kept as {previous}; undo with "
          f"`recovery-console restore rollback --profile {args.profile}`."])
    return ExitCode.OK


def _other_database(plan: RestorePlan) -> str:
    source = f"the backup is of database {plan.source_database}" if plan.source_database else \
        "the backup does not record which database it is of"
    return f"{source}, and this restore replaces {plan.database}"


def cmd_cleanup(args: argparse.Namespace) -> int:
    report = clean_up(console(), args.profile)
    emit(args, dataclasses.asdict(report), report.lines())
    return ExitCode.OK if not report.not_dropped else ExitCode.DATABASE


def cmd_history(args: argparse.Namespace) -> int:
    app = console()
    found = history(app, args.profile)
    lines = [f"Restores of profile {args.profile}, newest first (times in UTC):"] if found.rows else [
        f"No restore of profile {args.profile} is recorded."]
    for row in found.rows:
        e = row.entry
        kept = ""
        if row.kept:
            state = f"{format_bytes(row.size)}" if row.state == KEPT and row.size is not None else row.state
            what = "set aside" if row.set_aside else "previous"
            kept = f"  {what} {row.kept} ({state})"
        error = f"  ({e.error})" if e.error else ""
        backup = (e.backup_id or "").replace("-", "")[:8] or e.backup_key or "?"
        lines.append(f"  {e.id}  {e.time}  {backup} → {e.database} [{e.mode}]  {e.result}{error}{kept}")
    if found.server_error:
        lines.append(f"The kept databases' state is unknown: {found.server_error}")
    if any(r.can_roll_back or r.can_drop for r in found.rows):
        lines.append(f"Roll back: `recovery-console restore rollback --profile {args.profile} ID`; drop a kept "
                     f"database: `recovery-console restore drop --profile {args.profile} NAME --confirm NAME`.")
    sets = restores(app.paths, args.profile)
    if sets:
        lines.append("Set restores (roll one back whole: `recovery-console restore rollback --profile "
                     f"{args.profile} --set ID`, ID its restore id or set id):")
        lines += [f"  {r.id}  {r.time}  set {r.set_id}  {r.state}: {', '.join(m.name for m in r.members)}"
                  for r in sets]
    emit(args, {"profile": args.profile, "server_error": found.server_error,
                "entries": [r.to_json() for r in found.rows], "set_restores": [r.to_json() for r in sets]}, lines)
    return ExitCode.OK if not found.server_error else ExitCode.DATABASE


def cmd_drop(args: argparse.Namespace) -> int:
    confirm = args.confirm
    if confirm is None:
        if args.json or not sys.stdin.isatty():
            raise UsageError("Refusing to drop without the database's name typed.",
                             hint="Pass --confirm NAME with the kept database's exact name.")
        confirm = input(f"This drops {args.previous} for good. Type its name to go on: ").strip()
    name = drop_previous(console(), args.profile, args.previous, confirm=confirm)
    emit(args, {"dropped": name}, [f"Dropped {name}."])
    return ExitCode.OK
