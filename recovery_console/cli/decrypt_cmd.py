"""`recovery-console decrypt`: turn a backup back into a plain pg_dump archive, or show its metadata; a recovery
set's member (--member) to its archive or, for a folder, into a new folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_console.cli.common import (
    add_json,
    add_secret_options,
    console,
    emit,
    job,
    printable,
    secret_from,
    secret_to_open,
)
from recovery_console.cli.set_lookup import named_set
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.results import FileResult
from recovery_console.engine.sets.local_set import (
    decrypt_local_member,
    extract_local_member,
    is_set_folder,
    open_local_set,
)
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.sets.set_members import (
    decrypt_database_member,
    extract_folder_member,
    manifest_of,
    pick_member,
)
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.errors import ExitCode, UsageError
from recovery_console.formatting import format_bytes


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", help="a backup file, a backup id from `backup list`, or a recovery set (its id, "
                                       "or the folder `backup download` wrote it into)")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to write the .dump (required unless --metadata-only): a new or regular file; "
                             "devices, FIFOs, symbolic links and the backup itself are refused")
    parser.add_argument("--extract", type=Path, metavar="NEW_FOLDER",
                        help="a folder backup (a vault's tar): extract its files into this new folder instead")
    parser.add_argument("--metadata-only", action="store_true", help="show the decrypted metadata, write nothing")
    parser.add_argument("--member", metavar="NAME", help="a recovery set's member: a database to a .dump at -o, a "
                                                        "folder extracted into the new folder -o")
    parser.add_argument("--target", help="look the id up on this target only")
    parser.add_argument("--force", action="store_true", help="replace an existing regular output file")
    add_secret_options(parser, profile=True)
    add_json(parser)
    parser.set_defaults(func=cmd_decrypt)


def cmd_decrypt(args: argparse.Namespace) -> int:
    app = console()
    if is_set_folder(Path(args.backup).expanduser()):
        return _decrypt_local_member(args, app, Path(args.backup).expanduser())
    found = named_set(app, args.backup, args.target)
    if found is not None:
        return _decrypt_member(args, app, found)
    if args.member:
        raise UsageError("--member names a member of a recovery set; this is a single backup.")
    ref = app.locate(args.backup, args.target)
    if args.metadata_only:
        data = app.inspect(ref, secret_to_open(args, app, ref)).as_dict()
        emit(args, data, [f"{key:<16} {value}" for key, value in sorted(data.items())])
        return ExitCode.OK
    if args.extract is not None:
        if args.output is not None:
            raise UsageError("Give -o/--output (the decrypted file) or --extract (a folder backup's files), not both.")
        return _extract(args, app, ref)
    if args.output is None:
        raise UsageError("decrypt needs -o/--output (or --extract, or --metadata-only).")
    with job(args) as reporter:
        secret = secret_to_open(args, app, ref, reporter)
        result = app.decrypt(ref, args.output, secret, overwrite=args.force, reporter=reporter)
    emit(args, {"path": str(result.path), "size": result.size, "sha256": result.sha256,
                "metadata": result.metadata.as_dict() if result.metadata else None},
         [f"Decrypted to {result.path} ({format_bytes(result.size)}).",
          f"SHA-256 {result.sha256} (matches the hash sealed in the backup).",
          _NEXT.get(result.metadata.kind if result.metadata else "", _NEXT["database"]).format(path=result.path)])
    return ExitCode.OK


_NEXT = {"database": "Restore with: pg_restore -d DATABASE {path}",
         "folder": "This is a folder backup: {path} is its tar (`tar -xf {path} -C FOLDER`, or decrypt --extract)."}


def _extract(args: argparse.Namespace, app: Console, ref: BackupRef) -> int:
    secret = secret_to_open(args, app, ref)
    with job(args) as reporter:
        done = app.extract_folder(ref, args.extract, secret, reporter=reporter)
    lines = [f"Extracted into {printable(str(done.folder))}: {done.files} files, {done.directories} folders, "
             f"{done.links} links ({format_bytes(done.content_bytes)})."]
    lines += [f"REFUSED   {printable(item)}" for item in done.refused]
    emit(args, {"folder": str(done.folder), "files": done.files, "directories": done.directories,
                "links": done.links, "content_bytes": done.content_bytes, "refused": done.refused}, lines)
    return ExitCode.PARTIAL if done.refused else ExitCode.OK


def _decrypt_member(args: argparse.Namespace, app: Console, found: SetRecord) -> int:
    secret = secret_from(args)
    manifest = manifest_of(app, found, secret)
    if not args.member or args.output is None or args.metadata_only:
        raise UsageError("A recovery set is decrypted one member at a time: name it with --member and give -o.",
                         hint="Its members: " + ", ".join(f"{m.name} ({m.kind})" for m in manifest.members) + ".")
    member = pick_member(manifest, args.member)
    with job(args) as reporter:
        if member.kind == "folder":
            done = extract_folder_member(app, found, member.name, secret, into=args.output, reporter=reporter)
            return _folder_done(args, member.name, done.extracted)
        result = decrypt_database_member(app, found, member.name, args.output, secret, overwrite=args.force,
                                         reporter=reporter)
    return _dump_done(args, member.name, result)


def _decrypt_local_member(args: argparse.Namespace, app: Console, folder: Path) -> int:
    """A member of a set downloaded into `folder`, opened offline with the secret given."""
    secret = secret_from(args)
    opened = open_local_set(app, folder, secret)
    if not args.member or args.output is None or args.metadata_only:
        raise UsageError("A recovery set is decrypted one member at a time: name it with --member and give -o.",
                         hint="Its members: " + ", ".join(f"{m.member.name} ({m.member.kind}"
                                                          + (", DAMAGED" if m.problem else "") + ")"
                                                          for m in opened.members) + ".")
    member = opened.member(args.member).member
    with job(args) as reporter:
        if member.kind == "folder":
            done = extract_local_member(app, opened, member.name, args.output, secret, reporter)
            return _folder_done(args, member.name, done.extracted)
        result = decrypt_local_member(app, opened, member.name, args.output, secret, overwrite=args.force,
                                      reporter=reporter)
    return _dump_done(args, member.name, result)


def _folder_done(args: argparse.Namespace, name: str, extracted: Extracted) -> int:
    emit(args, {"path": str(extracted.folder), "files": extracted.files, "directories": extracted.directories,
                "links": extracted.links, "refused": extracted.refused},
         [f"Extracted member '{name}' into {extracted.folder}: {extracted.files} files, "
          f"{extracted.directories} folders, {extracted.links} links "
          f"({format_bytes(extracted.content_bytes)}); the archive is the one the set's manifest names."]
         + [f"REFUSED   {why} (nothing written for it)" for why in extracted.refused])
    return ExitCode.OK


def _dump_done(args: argparse.Namespace, name: str, result: FileResult) -> int:
    emit(args, {"path": str(result.path), "size": result.size, "sha256": result.sha256},
         [f"Decrypted member '{name}' to {result.path} ({format_bytes(result.size)}).",
          f"SHA-256 {result.sha256} (matches the set's manifest).",
          f"Restore with: pg_restore -d DATABASE {result.path}"])
    return ExitCode.OK
