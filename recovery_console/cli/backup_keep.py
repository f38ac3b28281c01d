"""`backup prune`, `backup pin`, `backup unpin`: retention and legal holds, registered under `backup`."""

from __future__ import annotations

import argparse
from typing import Any

from recovery_console.cli.common import add_json, console, emit, job
from recovery_console.engine.pinning import pin, unpin
from recovery_console.engine.prune import PruneReport, prune
from recovery_console.engine.retention import PlanLine, RetentionPlan
from recovery_console.engine.sets.set_copies import set_copies
from recovery_console.engine.sets.set_pins import pin_set, unpin_set
from recovery_console.errors import ExitCode, UsageError
from recovery_console.formatting import counted
from recovery_console.models.retention import RetentionRules

_RULE_FLAGS = (("keep_last", "--keep-last", "keep the N newest backups"),
               ("keep_within_days", "--keep-within-days", "keep every backup less than N days older than the newest"),
               ("keep_daily", "--keep-daily", "keep the newest backup of each of the last N days that have one"),
               ("keep_weekly", "--keep-weekly", "keep the newest backup of each of the last N ISO weeks with one"),
               ("keep_monthly", "--keep-monthly", "keep the newest backup of each of the last N months with one"))


def register(commands: Any) -> None:
    """Add prune, pin and unpin to the `backup` command group's subparsers."""
    pruning = commands.add_parser("prune", help="delete a profile's backups that no retention rule keeps")
    pruning.add_argument("--profile", required=True)
    pruning.add_argument("--target", action="append", help="prune this target (repeatable; default: the profile's)")
    for name, flag, helptext in _RULE_FLAGS:
        pruning.add_argument(flag, dest=name, type=int, metavar="N", help=helptext)
    pruning.add_argument("--dry-run", action="store_true", help="print the plan, delete nothing")
    add_json(pruning)
    pruning.set_defaults(func=cmd_prune)

    pinning = commands.add_parser("pin", help="put a backup or a whole recovery set on legal hold: no prune or "
                                                 "delete removes it")
    pinning.add_argument("backup", help="a backup or set id (every copy of it) or TARGET:KEY (one copy)")
    pinning.add_argument("--reason", required=True, help="why it is held (the incident or case)")
    pinning.add_argument("--target", help="only the copy on this target")
    add_json(pinning)
    pinning.set_defaults(func=cmd_pin)

    unpinning = commands.add_parser("unpin", help="release a backup's or a recovery set's legal hold")
    unpinning.add_argument("backup")
    unpinning.add_argument("--target", help="only the copy on this target")
    add_json(unpinning)
    unpinning.set_defaults(func=cmd_unpin)


def rules_from(args: argparse.Namespace) -> RetentionRules:
    try:
        return RetentionRules(**{name: getattr(args, name) for name, _, _ in _RULE_FLAGS})
    except ValueError as exc:
        raise UsageError(f"Retention rule: {exc}.") from None


def _line_data(line: PlanLine) -> dict[str, Any]:
    r = line.record
    return {"id": r.short_id, "target": r.target, "key": r.key, "created": r.created, "keep": line.keep,
            "reasons": list(line.reasons), "plan": line.text}


def plan_lines(target_plan: RetentionPlan) -> list[str]:
    lines = [f"Target {target_plan.target} ({target_plan.rules.summary()}): keep {len(target_plan.kept)}, "
             f"delete {len(target_plan.deleted)}"]
    lines += [f"  {line.record.short_id:<8}  {(line.record.created or '?'):<20}  {line.text}"
              for line in target_plan.lines]
    return lines


def report_data(report: PruneReport) -> dict[str, Any]:
    return {"profile": report.profile, "dry_run": report.dry_run,
            "plans": [{"target": p.target, "rules": p.rules.to_dict(), "summary": p.rules.summary(),
                       "backups": [_line_data(line) for line in p.lines]} for p in report.plans],
            "deleted": [_line_data(line) for line in report.deleted],
            "not_deleted": [{**_line_data(f.line), "error": f.error.message, "hint": f.error.hint}
                            for f in report.failed],
            "folders_kept": report.folders_kept}


def cmd_prune(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    with job(args) as reporter:
        report = prune(console(), args.profile, rules, args.target, dry_run=args.dry_run, reporter=reporter)
    lines = [line for p in report.plans for line in plan_lines(p)]
    if report.dry_run:
        lines.append("Dry run: nothing was deleted.")
    else:
        lines.append(f"Deleted {counted(len(report.deleted), 'backup')}.")
        lines += [f"Warning: {why}" for why in report.folders_kept]
        lines += [f"NOT deleted: {f.line.record.short_id} on {f.line.record.target}: {f.error.message}"
                  for f in report.failed]
    emit(args, report_data(report), lines)
    if not report.failed:
        return ExitCode.OK
    return ExitCode.PARTIAL if report.deleted else int(report.failed[0].error.exit_code)


def cmd_pin(args: argparse.Namespace) -> int:
    app = console()
    copies = set_copies(app, args.backup, args.target)
    if copies:
        held = pin_set(app, copies, args.reason)
        emit(args, {"pinned": [p.__dict__ for p in held], "set_id": copies[0].set_id},
             [f"Pinned recovery set {copies[0].set_id} on target '{p.target}' (legal hold: {p.reason}): no prune or "
              "delete removes any of its files." for p in held])
        return ExitCode.OK
    pins = pin(app, args.backup, args.reason, args.target)
    emit(args, {"pinned": [p.__dict__ for p in pins]},
         [f"Pinned {p.target}:{p.key} (legal hold: {p.reason})." for p in pins])
    return ExitCode.OK


def cmd_unpin(args: argparse.Namespace) -> int:
    app = console()
    copies = set_copies(app, args.backup, args.target)
    if copies:
        freed = unpin_set(app, copies)
        emit(args, {"unpinned": [{"target": r.target, "folder": r.folder} for r in freed], "set_id": copies[0].set_id},
             [f"Unpinned recovery set {r.set_id} on target '{r.target}'." for r in freed])
        return ExitCode.OK
    released = unpin(app, args.backup, args.target)
    emit(args, {"unpinned": [{"target": r.target, "key": r.key} for r in released]},
         [f"Unpinned {r.target}:{r.key}." for r in released])
    return ExitCode.OK
