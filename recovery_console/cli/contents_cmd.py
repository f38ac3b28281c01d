"""`recovery-console contents`: list an archive's TOC like `pg_restore --list`, with no PostgreSQL installed."""

from __future__ import annotations

import argparse

from recovery_console.cli.common import add_json, add_secret_options, console, emit, secret_to_open
from recovery_console.engine.archive import pgarchive
from recovery_console.errors import ExitCode


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a pg_dump custom-format .dump, a backup .enc, or a backup id")
    parser.add_argument("--target", help="look the id up on this target only")
    add_secret_options(parser, profile=True)
    add_json(parser)
    parser.set_defaults(func=cmd_contents)


def cmd_contents(args: argparse.Namespace) -> int:
    app = console()
    ref = app.locate(args.file, args.target)
    metadata, archive = app.contents(ref, lambda: secret_to_open(args, app, ref))
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
