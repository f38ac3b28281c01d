"""`recovery-console contents`: list an archive's TOC like `pg_restore --list`, with no PostgreSQL installed."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from recovery_console.cli.backup_cmd import set_lines
from recovery_console.cli.common import add_json, add_secret_options, console, emit, secret_from
from recovery_console.engine.archive import pgarchive
from recovery_console.engine.sets.set_listing import find_set
from recovery_console.engine.sets.set_members import manifest_of, member_ref, pick_member
from recovery_console.errors import ExitCode, UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a pg_dump custom-format .dump, a backup .enc, or a backup id")
    parser.add_argument("--target", help="look the id up on this target only")
    parser.add_argument("--member", metavar="NAME", help="a recovery set's database member (without: the set's "
                                                        "members)")
    add_secret_options(parser)
    add_json(parser)
    parser.set_defaults(func=cmd_contents)


def cmd_contents(args: argparse.Namespace) -> int:
    app = console()
    found = None if Path(args.file).expanduser().is_file() else find_set(app, args.file, args.target)
    if found is not None and not args.member:
        manifest = manifest_of(app, found, secret_from(args))
        shown = dataclasses.replace(found, manifest=manifest)
        emit(args, shown.as_dict(), set_lines(shown))
        return ExitCode.OK
    if found is not None:
        secret = secret_from(args)
        member = pick_member(manifest_of(app, found, secret), args.member)
        if member.kind != "database":
            raise UsageError(f"Member '{member.name}' is a folder, not a pg_dump archive.",
                             hint="Extract it into a new folder to see its files.",
                             cli_hint=f"Extract it: `decrypt {args.file} --member {member.name} -o NEW_FOLDER`.")
        ref = member_ref(app, found, member)
        metadata, archive = app.contents(ref, lambda: secret)
    else:
        if args.member:
            raise UsageError("--member names a member of a recovery set; this is a single backup.")
        ref = app.locate(args.file, args.target)
        metadata, archive = app.contents(ref, lambda: secret_from(args))
    header = archive.header
    data = {
        "archive": {"version": header.version_str, "compression": header.compression, "dbname": header.dbname,
                    "server_version": header.server_version, "dump_version": header.dump_version,
                    "created": header.created.isoformat() if header.created else None},
        "metadata": metadata.as_dict() if metadata else None,
        "entries": [{"dump_id": e.dump_id, "desc": e.desc, "schema": e.namespace, "name": e.tag, "owner": e.owner}
                    for e in archive.toc],
    }
    lines = [f";     Archive created at {header.created}", f";     dbname: {header.dbname}",
             f";     TOC Entries: {len(archive.toc)}", f";     Format: CUSTOM, version {header.version_str}",
             f";     Compression: {header.compression}", f";     Dumped from database version: {header.server_version}",
             f";     Dumped by pg_dump version: {header.dump_version}", ";"]
    emit(args, data, lines + pgarchive.listing_lines(archive))
    return ExitCode.OK
