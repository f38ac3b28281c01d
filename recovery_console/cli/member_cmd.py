"""`recovery-console profile member …`: add, remove and list the members of a profile's recovery set (#18)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.pg import postgres
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import ExitCode, UsageError
from recovery_console.models.profile import PRIMARY_MEMBER, ConnectionMode, MemberKind, Profile


def register(commands: Any) -> None:
    """Add `member` (add, remove, list) to the `profile` command group's subparsers."""
    member = commands.add_parser("member", help="the databases and folders a backup of the profile takes together")
    sub = member.add_subparsers(dest="member_command", required=True, metavar="COMMAND")

    add = sub.add_parser("add", help="add a database (--database NAME) or a folder (--folder NAME)")
    add.add_argument("profile")
    kind = add.add_mutually_exclusive_group(required=True)
    kind.add_argument("--database", metavar="NAME", help="a database member, named NAME in the set")
    kind.add_argument("--folder", metavar="NAME", help="a folder member (a file vault), named NAME in the set")
    url = add.add_mutually_exclusive_group()
    url.add_argument("--url", help="the database's URL, without a password (use --url-env for one with it)")
    url.add_argument("--url-env", metavar="VAR", help="environment variable holding the database URL (its password "
                                                      "is moved to the keyring)")
    add.add_argument("--mode", choices=("direct", "pool"), help="how the database is reached")
    add.add_argument("--not-a-pooler", action="store_true",
                     help="direct mode: confirm the URL points at PostgreSQL itself, not a pooler")
    add.add_argument("--direct-url-env", metavar="VAR",
                     help="pool mode: environment variable holding the direct URL pg_dump uses")
    add.add_argument("--path", help="the folder member's folder")
    add_json(add)
    add.set_defaults(func=cmd_add)

    remove = sub.add_parser("remove", help="remove a member (sets already made keep it)")
    remove.add_argument("profile")
    remove.add_argument("name")
    add_json(remove)
    remove.set_defaults(func=cmd_remove)

    listing = sub.add_parser("list", help="list the members of a profile's recovery set")
    listing.add_argument("profile")
    add_json(listing)
    listing.set_defaults(func=cmd_list)


def member_lines(profile: Profile) -> list[str]:
    """The profile's set as `profile show` prints it: its own database first, then each member."""
    if not profile.members:
        return ["Members   (none: a backup is one database backup)"]
    lines = [f"Members   {PRIMARY_MEMBER:<16} database  {profile.database_url} (the profile's own)"]
    for m in profile.members:
        if m.kind is MemberKind.FOLDER:
            lines.append(f"          {m.name:<16} folder    {m.path}")
        else:
            via = f"pool, direct URL {m.direct_url}" if m.mode is ConnectionMode.POOL else "direct"
            lines.append(f"          {m.name:<16} database  {m.database_url} ({via})")
    return lines


def _env(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"The environment variable {var} is not set or is empty.")
    return value


def cmd_add(args: argparse.Namespace) -> int:
    members = ProfileMembers(console().profiles)
    if args.folder:
        if args.url or args.url_env or args.mode or args.direct_url_env or args.not_a_pooler:
            raise UsageError("A folder member takes --path only; URLs and modes are for database members.")
        if not args.path:
            raise UsageError("A folder member needs --path FOLDER.")
        profile = members.add_folder(args.profile, args.folder, args.path)
    else:
        if args.path:
            raise UsageError("--path is for folder members; a database member takes --url or --url-env.")
        if not (args.url or args.url_env):
            raise UsageError("A database member needs --url URL or --url-env VAR.")
        if args.url and postgres.may_hold_password(args.url):
            raise UsageError("The URL holds a password, which must not be given on the command line.",
                             hint="Put the URL in an environment variable and pass --url-env VAR.")
        if not args.mode:
            raise UsageError("Say how the database is reached: --mode direct --not-a-pooler, or --mode pool "
                             "--direct-url-env VAR.")
        profile = members.add_database(args.profile, args.database, args.url or _env(args.url_env),
                                       mode=ConnectionMode(args.mode), acknowledge_direct=args.not_a_pooler,
                                       direct_url=_env(args.direct_url_env) if args.direct_url_env else None)
    name = args.folder or args.database
    emit(args, profile.to_dict(), [f"Member '{name}' added to profile '{profile.name}'."] + member_lines(profile))
    return ExitCode.OK


def cmd_remove(args: argparse.Namespace) -> int:
    profile = ProfileMembers(console().profiles).remove(args.profile, args.name)
    emit(args, profile.to_dict(), [f"Member '{args.name}' removed from profile '{profile.name}'."]
         + member_lines(profile))
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    profile = console().profiles.store.get(args.profile)
    emit(args, {"profile": profile.name, "members": [m.to_dict() for m in profile.members]}, member_lines(profile))
    return ExitCode.OK
