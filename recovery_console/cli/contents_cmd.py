"""`recovery-console contents`: list an archive's TOC like `pg_restore --list`, with no PostgreSQL installed."""

from __future__ import annotations

import argparse
import stat
import tarfile
from datetime import UTC, datetime

from recovery_console.cli.common import add_json, add_secret_options, console, emit, printable, secret_to_open
from recovery_console.engine.archive import pgarchive
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.errors import ExitCode, FolderBackupError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a pg_dump custom-format .dump, a backup .enc, or a backup id")
    parser.add_argument("--target", help="look the id up on this target only")
    add_secret_options(parser, profile=True)
    add_json(parser)
    parser.set_defaults(func=cmd_contents)


def cmd_contents(args: argparse.Namespace) -> int:
    app = console()
    ref = app.locate(args.file, args.target)
    secret: list[str] = []

    def asked() -> str:
        secret.append(secret_to_open(args, app, ref))
        return secret[0]

    try:
        metadata, archive = app.contents(ref, asked)
    except FolderBackupError:
        return _folder(args, app, ref, secret[0])
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


def _folder(args: argparse.Namespace, app: Console, ref: BackupRef, secret: str) -> int:
    """A folder backup's members like `tar -tv` prints them (the whole backup is read for them)."""
    listing = app.folder_contents(ref, secret)
    data = {"kind": "folder", "members": [{"name": m.name, "type": _TYPES.get(m.type, "other"), "size": m.size,
                                            "mode": m.mode, "mtime": m.mtime, "link": m.linkname or None}
                                           for m in listing.members], "total": listing.total}
    lines = [f";     Folder backup (a vault's tar): {listing.total} members", ";"]
    for m in listing.members:
        when = datetime.fromtimestamp(m.mtime, UTC).strftime("%Y-%m-%d %H:%M")
        link = f" -> {m.linkname}" if m.linkname else ""
        lines.append(f"{stat.filemode(m.mode | _MODE_TYPES.get(m.type, 0))} {m.size:>12} {when} "
                     f"{printable(m.name)}{printable(link)}")
    if listing.total > len(listing.members):
        lines.append(f"… and {listing.total - len(listing.members)} more (use --json for the first "
                     f"{len(listing.members)})")
    emit(args, data, lines)
    return ExitCode.OK


_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "directory",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}
_MODE_TYPES = {tarfile.DIRTYPE: stat.S_IFDIR, tarfile.SYMTYPE: stat.S_IFLNK, tarfile.REGTYPE: stat.S_IFREG,
               tarfile.AREGTYPE: stat.S_IFREG, tarfile.LNKTYPE: stat.S_IFREG}
