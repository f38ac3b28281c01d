"""`recovery-console contents`: list an archive's TOC like `pg_restore --list`, with no PostgreSQL installed."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from recovery_console.cli.backup_cmd import set_lines
from recovery_console.cli.common import (
    add_json,
    add_secret_options,
    console,
    emit,
    printable,
    secret_from,
    secret_to_open,
)
from recovery_console.cli.set_lookup import named_set
from recovery_console.engine.archive import pgarchive
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.folder_backup import member_type
from recovery_console.engine.sets.local_set import LocalSet, is_set_folder, member_file, open_local_set
from recovery_console.engine.sets.set_members import manifest_of, member_ref, pick_member
from recovery_console.errors import ExitCode, FolderBackupError, UsageError
from recovery_console.formatting import format_bytes


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a pg_dump custom-format .dump, a backup .enc, a backup id, or a recovery set "
                                     "(its id, or the folder `backup download` wrote it into)")
    parser.add_argument("--target", help="look the id up on this target only")
    parser.add_argument("--member", metavar="NAME", help="a recovery set's database member (without: the set's "
                                                        "members)")
    add_secret_options(parser, profile=True)
    add_json(parser)
    parser.set_defaults(func=cmd_contents)


def cmd_contents(args: argparse.Namespace) -> int:
    app = console()
    local = Path(args.file).expanduser()
    found = named_set(app, args.file, args.target)
    if is_set_folder(local):
        secret = secret_from(args)
        opened = open_local_set(app, local, secret)
        if not args.member:
            emit(args, _local_set_data(opened), _local_set_lines(opened))
            return ExitCode.VERIFY_FAILED if opened.damaged else ExitCode.OK
        local_member = opened.member(args.member).member
        if local_member.kind != "database":
            raise _folder_member(local_member.name, args.file)
        metadata, archive = app.contents(member_file(opened, local_member.name), lambda: secret)
    elif found is not None and not args.member:
        manifest = manifest_of(app, found, secret_from(args))
        shown = dataclasses.replace(found, manifest=manifest)
        emit(args, shown.as_dict(), set_lines(shown))
        return ExitCode.OK
    elif found is not None:
        secret = secret_from(args)
        member = pick_member(manifest_of(app, found, secret), args.member)
        if member.kind != "database":
            raise _folder_member(member.name, args.file)
        ref = member_ref(app, found, member)
        metadata, archive = app.contents(ref, lambda: secret)
    else:
        if args.member:
            raise UsageError("--member names a member of a recovery set; this is a single backup.")
        ref = app.locate(args.file, args.target)
        given: list[str] = []

        def asked() -> str:
            given.append(secret_to_open(args, app, ref))
            return given[0]

        try:
            metadata, archive = app.contents(ref, asked)
        except FolderBackupError:
            return _folder(args, app, ref, given[0])
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


def _folder_member(name: str, given: str) -> UsageError:
    return UsageError(f"Member '{name}' is a folder, not a pg_dump archive.",
                      hint="Extract it into a new folder to see its files.",
                      cli_hint=f"Extract it: `decrypt {given} --member {name} -o NEW_FOLDER`.")


def _local_set_data(opened: LocalSet) -> dict[str, object]:
    manifest = opened.manifest
    return {"folder": str(opened.folder), "set_id": manifest.set_id, "profile": manifest.profile,
            "created_at": manifest.created_at, "consistency_note": manifest.consistency_note,
            "members": [{**dataclasses.asdict(m.member), "problem": m.problem} for m in opened.members]}


def _local_set_lines(opened: LocalSet) -> list[str]:
    """A downloaded set's members as its manifest lists them, each damaged one named with what is wrong."""
    manifest = opened.manifest
    lines = [f"Set       {manifest.set_id}  (profile {manifest.profile}, {manifest.mode})",
             f"Folder    {printable(str(opened.folder))}", f"Created   {manifest.created_at}",
             "Members   (each its own snapshot: databases are not one consistent point in time)"]
    for found in opened.members:
        m = found.member
        lines.append(f"  {m.name:<14} {m.kind:<8} {m.key:<16} {format_bytes(m.size):>10}  "
                     f"{m.started_at} → {m.finished_at}  {printable(m.taken_from)}")
    lines += [f"DAMAGED   {m.member.name}: {m.problem}; take it from another copy of the set" for m in opened.damaged]
    return lines


def _folder(args: argparse.Namespace, app: Console, ref: BackupRef, secret: str) -> int:
    """A folder backup's members like `tar -tv` prints them (the whole backup is read for them)."""
    listing = app.folder_contents(ref, secret)
    data = {"kind": "folder", "members": [{"name": m.name, "type": member_type(m), "size": m.size, "mode": m.mode,
                                            "mtime": m.mtime, "link": m.linkname or None}
                                           for m in listing.members], "total": listing.total}
    lines = [f";     Folder backup (a vault's tar): {listing.total} members", ";"]
    lines += [printable(line) for line in listing.lines()]
    if listing.total > len(listing.members):
        lines[-1] += f" (use --json for the first {len(listing.members)})"
    emit(args, data, lines)
    return ExitCode.OK
