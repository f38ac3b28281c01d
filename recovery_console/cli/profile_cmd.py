"""`recovery-console profile …`: create, show, list, set-mode, set-target, test and remove profiles (their
instance secrets in profile_secret_cmd.py, members in member_cmd.py)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from datetime import UTC, datetime

from recovery_console.cli import member_cmd, profile_secret_cmd
from recovery_console.cli.common import add_json, add_secret_options, console, emit, secret_from
from recovery_console.engine.due import pending
from recovery_console.engine.schedule_times import next_run
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import ExitCode, UsageError
from recovery_console.models import policy as policy_module
from recovery_console.models.policy import Frequency, Policy
from recovery_console.models.profile import ConnectionMode, Profile


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="profile_command", required=True, metavar="COMMAND")

    create = commands.add_parser("create", help="create a profile (its connection mode is declared separately)")
    create.add_argument("name")
    create.add_argument("--database-url-env", metavar="VAR", required=True,
                        help="environment variable holding the database URL (it may contain a password, "
                             "which is moved to the keyring)")
    create.add_argument("--target", help="the target backups of this profile go to")
    create.add_argument("--tool-dir", action="append", default=[], help="a folder with pg_dump/pg_restore (repeatable)")
    add_secret_options(create)
    add_json(create)
    create.set_defaults(func=cmd_create)

    mode = commands.add_parser("set-mode", help="declare how the database is reached: direct or pool")
    mode.add_argument("name")
    mode.add_argument("mode", choices=("direct", "pool"))
    mode.add_argument("--not-a-pooler", action="store_true",
                      help="direct mode: confirm the database URL points at PostgreSQL itself, not a pooler")
    mode.add_argument("--direct-url-env", metavar="VAR",
                      help="pool mode: environment variable holding the direct URL pg_dump/pg_restore use")
    add_json(mode)
    mode.set_defaults(func=cmd_set_mode)

    target = commands.add_parser("set-target", help="bind the profile's backups to a target")
    target.add_argument("name")
    target.add_argument("target")
    add_json(target)
    target.set_defaults(func=cmd_set_target)

    _register_set_policy(commands)
    profile_secret_cmd.register(commands)

    for name, func, helptext in (("show", cmd_show, "show a profile, its policy and next run"),
                                 ("test", cmd_test, "connect through the URL backups use; check the tools"),
                                 ("remove", cmd_remove, "remove a profile and its keyring secrets")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("name")
        add_json(sub)
        sub.set_defaults(func=func)
    listing = commands.add_parser("list", help="list profiles")
    add_json(listing)
    listing.set_defaults(func=cmd_list)
    member_cmd.register(commands)


_RULES = ("keep_last", "keep_within_days", "keep_daily", "keep_weekly", "keep_monthly")


def _register_set_policy(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = commands.add_parser("set-policy", help="when backups run by themselves, what is kept, where copies go")
    policy.add_argument("name")
    policy.add_argument("--schedule", choices=tuple(Frequency), help="how often (never: only by hand)")
    policy.add_argument("--at", metavar="HH:MM", help="time of day (hourly: the minute, e.g. 15)")
    policy.add_argument("--weekday", help="weekly: the day, e.g. mon")
    policy.add_argument("--day", type=int, help="monthly: the day of the month, 1-31")
    policy.add_argument("--timezone", metavar="ZONE", help="IANA time zone of the schedule (default UTC)")
    for rule in _RULES:
        policy.add_argument(f"--{rule.replace('_', '-')}", type=int, metavar="N", help="0 removes the rule")
    policy.add_argument("--keep-everything", action="store_true", help="remove every retention rule")
    policy.add_argument("--min-free", metavar="SIZE", help="skip a run when the target has less free (e.g. 500MB)")
    policy.add_argument("--copy-to", action="append", metavar="TARGET", help="a secondary target (repeatable)")
    policy.add_argument("--no-copy", action="store_true", help="no secondary targets")
    policy.add_argument("--rpo", metavar="HOURS", help="recovery-point objective, e.g. 26h or 2d")
    state = policy.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True, help="run on schedule")
    state.add_argument("--disable", dest="enabled", action="store_const", const=False, help="pause the schedule")
    add_json(policy)
    policy.set_defaults(func=cmd_set_policy)


def cmd_set_policy(args: argparse.Namespace) -> int:
    app = console()
    current = app.profiles.store.get(args.name).policy or Policy()
    retention: dict[str, int | None] | None = None
    given = {rule: getattr(args, rule) for rule in _RULES if getattr(args, rule) is not None}
    if args.keep_everything or given:
        retention = {} if args.keep_everything else current.retention.to_dict()
        retention.update({rule: value or None for rule, value in given.items()})
    copy_to = [] if args.no_copy else args.copy_to
    updated = policy_module.edited(current, frequency=args.schedule, at=args.at, weekday=args.weekday,
                                   day=args.day, timezone=args.timezone, retention=retention,
                                   min_free=args.min_free, copy_to=copy_to, rpo=args.rpo, enabled=args.enabled)
    profile = app.profiles.set_policy(args.name, updated)
    emit(args, {**profile.to_dict(), "policy_summary": updated.summary(), "next_run": _next_run(profile)},
         ["Policy saved."] + _policy_lines(profile))
    return ExitCode.OK


def _next_run(profile: Profile) -> str | None:
    policy = profile.policy
    if policy is None or not policy.scheduled:
        return None
    found = next_run(policy.schedule, datetime.now(UTC))
    return found.isoformat() if found else None


def _missed(profile: Profile) -> datetime | None:
    """The scheduled slot no run has served yet (the machine was off), which the next run-due makes up."""
    found = pending(console().paths, profile.name, datetime.now(UTC))
    return found[0][1] if found else None


def _policy_lines(profile: Profile, missed: datetime | None = None) -> list[str]:
    policy = profile.policy
    if policy is None:
        return ["Policy    (none: backups run only by hand)"]
    zone, name = policy.schedule.zone, policy.schedule.timezone
    due = _next_run(profile)
    when = "not scheduled"
    if due is not None:
        moment = datetime.fromisoformat(due)
        when = f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {name} ({due})"
    lines = [f"Policy    {policy.summary()}", f"RPO       {policy.rpo_hours} h", f"Next run  {when}"]
    if missed is not None:
        lines.append(f"Due now   the {missed.astimezone(zone):%Y-%m-%d %H:%M} {name} run has not run yet "
                     "(the machine was off or the run failed); the next run-due makes it up")
    return lines


def _env(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"The environment variable {var} is not set or is empty.")
    return value


def _lines(profile: Profile, warnings: list[str]) -> list[str]:
    mode = {ConnectionMode.UNDECLARED: "NOT DECLARED — backup and restore are disabled",
            ConnectionMode.DIRECT: "direct (acknowledged: not a pooler)",
            ConnectionMode.POOL: "pool (pg_dump/pg_restore use the direct URL)"}[profile.mode]
    lines = [f"Profile   {profile.name}", f"Database  {profile.database_url}", f"Mode      {mode}"]
    if profile.direct_url:
        lines.append(f"Direct    {profile.direct_url}")
    lines.append(f"Target    {profile.target or '(none)'}")
    return lines + [f"WARNING   {w}" for w in warnings]


def cmd_create(args: argparse.Namespace) -> int:
    app = console()
    has_secret = args.secret_key_file or args.secret_key_env
    profile = app.profiles.create(args.name, _env(args.database_url_env), target=args.target,
                                  instance_secret=secret_from(args) if has_secret else None, tool_dirs=args.tool_dir)
    emit(args, profile.to_dict(), _lines(profile, []) +
         [f"Next: declare the connection mode with `recovery-console profile set-mode {profile.name} direct "
          "--not-a-pooler` or `… pool --direct-url-env VAR`."])
    return ExitCode.OK


def cmd_set_mode(args: argparse.Namespace) -> int:
    app = console()
    direct_url = _env(args.direct_url_env) if args.direct_url_env else None
    profile = app.profiles.set_mode(args.name, ConnectionMode(args.mode), acknowledge_direct=args.not_a_pooler,
                                    direct_url=direct_url)
    warnings = app.profiles.warnings(profile)
    emit(args, {**profile.to_dict(), "warnings": warnings}, ["Connection mode saved."] + _lines(profile, warnings))
    return ExitCode.OK


def cmd_set_target(args: argparse.Namespace) -> int:
    profile = console().profiles.set_target(args.name, args.target)
    emit(args, profile.to_dict(), [f"Backups of '{profile.name}' now go to '{args.target}'. "
                                   "Backups already on other targets stay where they are and remain listed."])
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    app = console()
    profile = app.profiles.store.get(args.name)
    warnings = app.profiles.warnings(profile)
    missed = _missed(profile)
    emit(args, {**profile.to_dict(), "declared": profile.declared, "warnings": warnings,
                "policy_summary": profile.policy.summary() if profile.policy else None,
                "next_run": _next_run(profile), "due_now": missed.isoformat() if missed else None},
         _lines(profile, warnings) + member_cmd.member_lines(profile) + _policy_lines(profile, missed))
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    profiles = list(console().profiles.store.load().values())
    emit(args, {"profiles": [p.to_dict() for p in profiles]},
         [f"{p.name:<16} {p.mode.value:<10} {p.database_url}" for p in profiles] or ["No profiles yet."])
    return ExitCode.OK


def cmd_test(args: argparse.Namespace) -> int:
    app = console()
    report = app.profiles.test(args.name)
    members = ProfileMembers(app.profiles).test(args.name)  # a set's other databases and folders too
    lines = [f"Connection {'OK' if report.ok else 'FAILED'} via {report.url}"]
    if report.ok:
        lines += [f"Server     PostgreSQL {report.server_version} (database {report.database}, user {report.user})",
                  f"CREATEDB   {'yes' if report.can_create_db else 'no (restores into a new database will fail)'}",
                  f"pg_dump    {report.pg_dump or 'none compatible found'}",
                  f"pg_restore {report.pg_restore or 'none compatible found'}"]
    else:
        lines.append(f"Error      {report.error}")
    lines += [f"WARNING    {w}" for w in report.warnings]
    lines += [f"Member     {m.name} ({m.kind}): {'OK' if m.ok else 'FAILED'}: {m.detail}" for m in members]
    emit(args, {**dataclasses.asdict(report), "members": [dataclasses.asdict(m) for m in members]}, lines)
    return ExitCode.OK if report.ok and all(m.ok for m in members) else ExitCode.DATABASE


def cmd_remove(args: argparse.Namespace) -> int:
    profile = console().profiles.remove(args.name)
    emit(args, {"removed": profile.to_dict()}, [f"Profile '{profile.name}' and its keyring secrets were removed."])
    return ExitCode.OK
