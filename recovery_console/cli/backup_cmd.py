"""`recovery-console backup …`: create, list, verify, download, upload, delete, inspect (prune, pin, unpin in
backup_keep.py; copy in backup_copy.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

from recovery_console.cli import backup_copy, backup_keep
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
from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.pinning import copies
from recovery_console.engine.results import VerifyResult
from recovery_console.engine.sets.local_set import is_set_folder, verify_local_set
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.sets.set_copies import one_copy
from recovery_console.engine.sets.set_download import download_set
from recovery_console.engine.sets.set_import import import_set
from recovery_console.engine.sets.set_listing import SetVerifyResult, delete_set, find_set, list_sets, verify_set
from recovery_console.engine.sets.set_names import find_named_set
from recovery_console.engine.state.catalog import OpenedWith
from recovery_console.engine.state.pins import Pin
from recovery_console.errors import ExitCode, NotFoundError, UsageError, from_os_error
from recovery_console.formatting import counted, format_bytes
from recovery_console.models.backup import BackupRecord


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="backup_command", required=True, metavar="COMMAND")

    create = commands.add_parser("create", help="back up a live database (--profile) or encrypt a pg_dump archive")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="dump this profile's database with pg_dump, straight into the backup")
    source.add_argument("--from", dest="source", metavar="FILE",
                        help="a pg_dump custom-format archive ('-' for standard input)")
    create.add_argument("--target", help="a configured target's name, or a folder path (default: the profile's)")
    create.add_argument("--description", default="", help="a note stored (encrypted) with the backup")
    create.add_argument("--mode", choices=("manual", "scheduled"), default="manual")
    create.add_argument("--compression", choices=("zstd", "none", "pg_dump"), default="zstd",
                        help="zstd inside the console (default), none, or pg_dump's own (with --profile)")
    add_secret_options(create)
    add_json(create)
    create.set_defaults(func=cmd_create)

    listing = commands.add_parser("list", help="list backups, synced from the targets first")
    listing.add_argument("--target", action="append", help="only this target (repeatable)")
    listing.add_argument("--no-sync", action="store_true", help="show the catalog as it is, without listing targets")
    add_json(listing)
    listing.set_defaults(func=cmd_list)

    verify = commands.add_parser("verify", help="prove a backup is whole and restorable")
    verify.add_argument("backup", help="a backup id from `backup list`, or a file path")
    verify.add_argument("--target", help="look the id up on this target only")
    verify.add_argument("--quick", action="store_true", help="check every chunk's tag and the end record only")
    verify.add_argument("--without-key", action="store_true", help="check the file against its .sha256 sidecar only")
    add_secret_options(verify, profile=True)
    add_json(verify)
    verify.set_defaults(func=cmd_verify)

    inspect = commands.add_parser("inspect", help="show a backup's decrypted metadata (reads no payload)")
    inspect.add_argument("backup")
    inspect.add_argument("--target")
    add_secret_options(inspect, profile=True)
    add_json(inspect)
    inspect.set_defaults(func=cmd_inspect)

    download = commands.add_parser("download", help="copy a backup and its sidecar, or a whole recovery set, to this "
                                                    "machine")
    download.add_argument("backup")
    download.add_argument("-o", "--output", required=True, type=Path,
                          help="a new or regular file, or an existing folder (devices, FIFOs and links are refused); "
                               "for a set, a new folder or an existing one to put the set's folder in")
    download.add_argument("--target")
    download.add_argument("--force", action="store_true", help="replace an existing regular output file")
    add_json(download)
    download.set_defaults(func=cmd_download)

    upload = commands.add_parser(
        "upload", help="import a file into a target: a backup (verified first), or a plain pg_dump -Fc archive or a "
                       ".tar/.tar.gz/.tar.zst of a vault folder (encrypted into a backup, then verified there), or a "
                       "downloaded recovery set's folder (every member verified first)")
    upload.add_argument("file", type=Path, nargs="+", help="the file (several with --as-set)")
    upload.add_argument("--as-set", metavar="NAME", help="encrypt the given pg_dump -Fc archives and vault tars into "
                                                         "one recovery set of this name, a member per file")
    upload.add_argument("--target", help="a configured target's name, or a folder path (default: the profile's)")
    upload.add_argument("--profile", help="take the instance secret (unless given otherwise) and the target from "
                                          "this profile; a set uploaded with it is that profile's")
    add_secret_options(upload)
    add_json(upload)
    upload.set_defaults(func=cmd_upload)

    delete = commands.add_parser("delete", help="delete a backup from its target")
    delete.add_argument("backup")
    delete.add_argument("--target")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_json(delete)
    delete.set_defaults(func=cmd_delete)
    backup_keep.register(commands)
    backup_copy.register(commands)


def _record_lines(record: BackupRecord) -> list[str]:
    return [
        f"Backup    {record.backup_id}",
        f"Target    {record.target}",
        f"Path      {record.key}",
        f"Size      {format_bytes(record.size)} ({record.size:,} bytes)",
        f"SHA-256   {record.sha256}",
    ]


def cmd_create(args: argparse.Namespace) -> int:
    app = console()
    if args.profile:
        return _create_from_profile(args, app)
    if not args.target:
        raise UsageError("--target is required with --from.")
    if args.compression == "pg_dump":
        raise UsageError("--compression pg_dump applies to --profile backups; an archive file is stored as it is.")
    secret = secret_from(args)
    if args.source == "-":
        source, name, size = sys.stdin.buffer, "stdin", None
    else:
        path = Path(args.source)
        source = _open_archive(path)
        name, size = path.name, path.stat().st_size
    with source, job(args) as reporter:
        record = app.create_backup(source, args.target, secret, description=args.description, mode=args.mode,
                                   compression=args.compression, source_name=name, source_size=size,
                                   reporter=reporter)
    emit(args, record.as_dict(), ["Backup created."] + _record_lines(record))
    return ExitCode.OK


def _open_archive(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist.") from None
    except OSError as exc:
        raise from_os_error("opening", str(path), exc) from exc


def list_lines(records: list[BackupRecord], pins: dict[tuple[str, str], Pin] | None = None,
               where: dict[str, list[str]] | None = None,
               opened: dict[tuple[str, str], OpenedWith] | None = None) -> list[str]:
    """The listing table; with `pins`, `where` (key → targets) and `opened` each backup's hold, copies and the
    instance secret that opens it follow it."""
    lines = [f"{'ID':<8}  {'CREATED (UTC)':<20}  {'SIZE':>10}  {'MODE':<9}  {'VERSION':<8}  {'VERIFIED':<8}  TARGET"]
    for r in records:
        lines.append(f"{r.short_id:<8}  {(r.created or '?'):<20}  {format_bytes(r.size):>10}  {(r.mode or '?'):<9}  "
                     f"{(r.app_version or '?'):<8}  {(r.verify_result or '-'):<8}  {r.target}")
        held = (pins or {}).get((r.target, r.key))
        if held is not None:
            lines.append(f"{'':<10}PINNED: {held.reason}")
        if where is not None and len(where.get(r.key, [])) > 1:
            lines.append(f"{'':<10}copies: {', '.join(where[r.key])}")
        if (secret := (opened or {}).get((r.target, r.key))) is not None:
            lines.append(f"{'':<10}opens with: {secret.label} ({secret.profile})")
    return lines


def _create_from_profile(args: argparse.Namespace, app: Console) -> int:
    if args.target:
        raise UsageError("--target goes with --from; a profile's backups go to its own target.",
                         hint=f"Change it with `profile set-target {args.profile} TARGET`.")
    has_secret = args.secret_key_file or args.secret_key_env or args.secret_keyring
    secret = secret_from(args) if has_secret else None
    if app.profiles.store.get(args.profile).has_members:
        with job(args) as reporter:
            made = backup_set(app, args.profile, description=args.description, mode=args.mode,
                              compression=args.compression, secret=secret, reporter=reporter)
        emit(args, made.as_dict(), ["Recovery set created."] + set_lines(made))
        return ExitCode.OK
    with job(args) as reporter:
        record = backup_database(app, args.profile, description=args.description, mode=args.mode,
                                 compression=args.compression, secret=secret, reporter=reporter)
    emit(args, record.as_dict(), ["Backup created."] + _record_lines(record))
    return ExitCode.OK


def set_lines(record: SetRecord) -> list[str]:
    """A set as one entry: its id, state and members (each with its file, size and times when known)."""
    state = {"complete": "complete", "damaged": "DAMAGED — not restorable",
             "unknown": "members unknown until verified"}[record.state]
    named = [f"Name      {record.manifest.description}"] if record.manifest and record.manifest.description else []
    lines = [f"Set       {record.set_id}  ({state})", *named, f"Target    {record.target}",
             f"Path      {record.folder}",
             f"Created   {record.created or '?'}  mode {record.mode or '?'}  {format_bytes(record.size)}  "
             f"verified {record.verify_result or '-'}"]
    if record.manifest is not None:
        lines.append("Members   (each its own snapshot: databases are not one consistent point in time)")
        for m in record.manifest.members:
            lines.append(f"  {m.name:<14} {m.kind:<8} {m.key:<16} {format_bytes(m.size):>10}  "
                         f"{m.started_at} → {m.finished_at}  {printable(m.taken_from)}")
    elif record.member_files is not None:
        lines.append("Members   " + ", ".join(record.member_files) + " (names and times once verified)")
    lines += [f"PROBLEM   {problem}" for problem in record.problems]
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    app = console()
    records, synced = app.list_backups(args.target, sync=not args.no_sync)
    sets, set_synced = list_sets(app, args.target, sync=not args.no_sync)
    pins = {(p.target, p.key): p for p in app.pins.all()}
    where = copies(app.catalog.records())
    opened = app.catalog.opened_with()
    lines = list_lines(records, pins, where, opened) if records else []
    if sets:
        lines += (["", "Recovery sets:"] if records else ["Recovery sets:"])
        for found in sets:
            held = pins.get((found.target, found.folder))
            lines += set_lines(found) + ([f"PINNED    {held.reason}"] if held else []) + [""]
    if not records and not sets:
        lines = ["No backups found." + ("" if synced or args.no_sync else " No targets are configured: "
                                         "`target add` one, or pass --target FOLDER.")]
    unfinished = [u for s in set_synced for u in s.unfinished]
    if unfinished:
        lines.append(f"Not listed: {counted(len(unfinished), 'unfinished set')} (a set backup that failed or was "
                     "killed); the next set backup to the target removes such sets once a day old.")
    unreachable = [s for s in synced if s.error]
    lines += [f"Target '{s.target}' NOT LISTED (its backups are not shown): {s.error}" for s in unreachable]
    data = {"backups": [{**r.as_dict(), "pin": pins[(r.target, r.key)].__dict__ if (r.target, r.key) in pins else None,
                         "copies": where.get(r.key, [r.target]),
                         "opens_with": _opens_with(opened.get((r.target, r.key)))} for r in records],
            "sets": [{**found.as_dict(), "pin": pins[(found.target, found.folder)].__dict__
                      if (found.target, found.folder) in pins else None} for found in sets],
            "unfinished_sets": [{"target": u.target, "folder": u.folder, "files": len(u.keys)} for u in unfinished],
            "synced": [s.__dict__ for s in synced]}
    emit(args, data, lines)
    return ExitCode.PARTIAL if unreachable else ExitCode.OK


def _opens_with(secret: OpenedWith | None) -> dict[str, str] | None:
    """The secret on record as opening a backup, by name: never the secret."""
    return None if secret is None else {"profile": secret.profile, "label": secret.label, "since": secret.time}


def verify_lines(result: VerifyResult) -> list[str]:
    md = result.metadata
    holds = (" and holds a folder's tar (a file vault) exactly as sealed." if md and md.kind == "folder"
             else " and holds a pg_dump archive whole to its last data block.")
    lines = [f"VERDICT   PASSED ({result.mode} verify): this backup is whole" +
             (holds if result.mode == "full" else ".")]
    if md:
        lines += [f"Backup    {md.backup_id}", f"Created   {md.created_at} by app version {md.app_version}",
                  f"Mode      {md.mode}" + (f" — {md.description}" if md.description else "")]
    lines += [f"Location  {result.location}", f"Size      {format_bytes(result.encrypted_size)} encrypted"
              + (f", {format_bytes(result.archive_length)} archive" if result.archive_length is not None else "")]
    if result.chunk_count is not None:
        lines.append(f"Chunks    {result.chunk_count} (metadata, payload, end record)")
    lines.append(f"File SHA-256     {result.ciphertext_sha256 or '(not computed by a quick verify)'}")
    lines.append(f"Sidecar SHA-256  {result.sidecar_sha256 or '(no sidecar)'}")
    if result.archive_sha256:
        lines.append(f"Archive SHA-256  {result.archive_sha256}")
    if result.archive_version:
        lines.append(f"Archive   pg_dump format {result.archive_version}, dumped from PostgreSQL "
                     f"{result.dumped_from} by pg_dump {result.dumped_by}")
        counts = ", ".join(f"{n} {kind.lower()}" for kind, n in sorted(result.object_counts.items()))
        lines.append(f"Objects   {counts}")
    return lines


def set_verify_lines(result: SetVerifyResult) -> list[str]:
    lines = [f"VERDICT   PASSED (full verify): set {result.manifest.set_id} is whole; every member is the file the "
             "manifest pins and decrypts to the archive it names."]
    lines += set_lines(result.record)[1:]
    lines += [f"  {v.member.name:<14} file SHA-256 {v.encrypted_sha256}  archive SHA-256 {v.archive_sha256}"
              for v in result.members]
    return lines


def cmd_verify(args: argparse.Namespace) -> int:
    app = console()
    path = Path(args.backup).expanduser()
    found = named_set(app, args.backup, args.target)
    if (found is not None or is_set_folder(path)) and (args.quick or args.without_key):
        raise UsageError("A recovery set is verified in full, member by member; --quick and --without-key "
                         "apply to single backups.")
    if is_set_folder(path):  # a set downloaded to this machine, verified offline
        with job(args) as reporter:
            opened, verdicts = verify_local_set(app, path, secret_from(args), reporter=reporter)
        emit(args, {"folder": str(path.absolute()), "set_id": opened.manifest.set_id, "verdict": "passed",
                    "members": [{"name": v.member.name, "kind": v.member.kind, "key": v.member.key,
                                 "sha256": v.encrypted_sha256, "archive_sha256": v.archive_sha256}
                                for v in verdicts]},
             [f"VERDICT   PASSED (full verify): the set {opened.manifest.set_id} in {path} is whole; every member is "
              "the file the manifest pins and decrypts to the archive it names."] +
             [f"  {v.member.name:<14} file SHA-256 {v.encrypted_sha256}  archive SHA-256 {v.archive_sha256}"
              for v in verdicts])
        return ExitCode.OK
    if found is not None:
        with job(args) as reporter:
            proven = verify_set(app, found, secret_from(args), reporter=reporter)
        emit(args, proven.as_dict(), set_verify_lines(proven))
        return ExitCode.OK
    ref = app.locate(args.backup, args.target)
    with job(args) as reporter:
        if args.without_key:
            result = app.verify_without_key(ref, reporter=reporter)
        else:
            result = app.verify(ref, secret_to_open(args, app, ref, reporter), quick=args.quick, reporter=reporter)
    emit(args, result.as_dict(), verify_lines(result))
    return ExitCode.OK


def cmd_inspect(args: argparse.Namespace) -> int:
    app = console()
    ref = app.locate(args.backup, args.target)
    metadata = app.inspect(ref, secret_to_open(args, app, ref))
    data = metadata.as_dict()
    emit(args, data, [f"{key:<16} {value}" for key, value in sorted(data.items())])
    return ExitCode.OK


_CHECKED = {
    "sidecar": "The copy matches the .sha256 sidecar stored beside the backup on the target.",
    "catalog": "The target has no .sha256 sidecar; the copy matches the SHA-256 the catalog recorded for it.",
}
_UNCHECKED = ("The target has no .sha256 sidecar and the catalog records no SHA-256: the copy was checked "
              "against nothing (the .sha256 written beside it only records what was received). "
              "Run `backup verify` on it with the secret to prove it whole.")


def cmd_download(args: argparse.Namespace) -> int:
    app = console()
    found = None if Path(args.backup).expanduser().is_file() else one_copy(app, args.backup, args.target)
    if found is not None:
        if args.force:
            raise UsageError("A recovery set is downloaded into a new folder; --force applies to single backups.")
        with job(args) as reporter:
            got = download_set(app, found, args.output, reporter)
        against = ("the set's sidecar and the sizes and SHA-256 its manifest pins" if got.checked_against == "manifest"
                   else "the set's sidecar (verify the set with the key to check against its manifest too)")
        emit(args, {"path": str(got.folder), "files": got.files, "size": got.size, "set_id": found.set_id,
                    "checked_against": got.checked_against},
             [f"Downloaded recovery set {found.set_id} to {got.folder} ({got.files} files, "
              f"{format_bytes(got.size)}).", f"Every file matches {against}."])
        return ExitCode.OK
    ref = app.locate(args.backup, args.target)
    with job(args) as reporter:
        result = app.download(ref, args.output, overwrite=args.force, reporter=reporter)
    emit(args, {"path": str(result.path), "size": result.size, "sha256": result.sha256,
                "checked_against": result.checked_against},
         [f"Downloaded to {result.path} ({format_bytes(result.size)}), SHA-256 {result.sha256}.",
          _CHECKED.get(result.checked_against or "", _UNCHECKED)])
    return ExitCode.OK


def cmd_upload(args: argparse.Namespace) -> int:
    if args.as_set is None and len(args.file) == 1 and args.file[0].is_dir():
        return backup_copy.cmd_upload_set(args)
    app = console()
    if not args.target and not args.profile:
        raise UsageError("backup upload needs --target (or --profile, whose target is used).")
    if args.as_set is None and len(args.file) > 1:
        raise UsageError("backup upload takes one file, or several with --as-set NAME (one recovery set).")
    has_secret = args.secret_key_file or args.secret_key_env or args.secret_keyring
    secret = secret_from(args) if has_secret or not args.profile else None
    if args.as_set is not None:
        with job(args) as reporter:
            made = import_set(app, args.file, args.as_set, args.target, secret, profile=args.profile,
                              reporter=reporter)
        named = find_named_set(app, args.as_set, made.target)
        same = [f"{counted(len(named.others) + 1, 'set')} on {made.target} are named '{named.name}'; restoring by "
                "that name takes the newest, this one."] if named is not None and named.others else []
        emit(args, made.as_dict(), [f"Encrypted {counted(len(args.file), 'file')} into recovery set "
                                    f"'{args.as_set}' on the target; every member was read back and verified "
                                    "there."] + same + set_lines(made))
        return ExitCode.OK
    with job(args) as reporter:
        record = app.upload(args.file[0], args.target, secret, profile=args.profile, reporter=reporter)
    imported = _import_lines(record, args.file[0])
    first = "Encrypted into a new backup on the target and verified there." if imported \
        else "Backup verified and uploaded."
    emit(args, record.as_dict(), [first] + _record_lines(record) + imported)
    return ExitCode.OK


def _import_lines(record: BackupRecord, path: Path) -> list[str]:
    """What an import made of the file: a database backup or a folder backup, and the file's own hash."""
    md = record.metadata
    source = md.extra.get("imported_from") if md else None
    if md is None or not isinstance(source, dict) or source.get("path") != str(path.absolute()):
        return []
    lines = [f"Imported  {printable(str(path))} (SHA-256 {source.get('sha256')}) as a {md.kind} backup"]
    if md.kind == "database":
        lines.append(f"Database  {md.database}, dumped {md.extra.get('dumped_at_local')} (the dumping machine's "
                     f"local time) from PostgreSQL {md.server_version}")
    else:
        counts = md.extra.get("folder") or {}
        lines.append(f"Folder    {counts.get('files', 0)} files, {counts.get('directories', 0)} folders, "
                     f"{counts.get('links', 0)} links; restore it with `decrypt {record.short_id} --extract FOLDER`")
    return lines


def cmd_delete(args: argparse.Namespace) -> int:
    app = console()
    found = None if Path(args.backup).expanduser().is_file() else find_set(app, args.backup, args.target)
    if found is not None:
        if not args.yes:
            if not sys.stdin.isatty():
                print("Refusing to delete without confirmation: pass --yes.", file=sys.stderr)
                return ExitCode.USAGE
            answer = input(f"Delete recovery set {found.set_id} (every member) at {printable(found.folder)}? "
                           "Type 'delete' to confirm: ")
            if answer.strip() != "delete":
                print("Not deleted.", file=sys.stderr)
                return ExitCode.USAGE
        removed = delete_set(app, found)
        emit(args, {"deleted_set": found.as_dict(), "files": removed.files, "folder_kept": removed.folder_kept},
             [f"Deleted recovery set {found.set_id}: {removed.files} files (the manifest first)."]
             + ([f"Warning: {removed.folder_kept}"] if removed.folder_kept else []))
        return ExitCode.OK
    ref = app.locate(args.backup, args.target)
    if ref.record is None:
        app.delete(ref)  # refuses, saying why: only backups in the catalog can be deleted
        return ExitCode.USAGE
    if not args.yes:
        if not sys.stdin.isatty():
            print("Refusing to delete without confirmation: pass --yes.", file=sys.stderr)
            return ExitCode.USAGE
        answer = input(f"Delete backup {ref.record.short_id} at {printable(ref.location)}? Type 'delete' to confirm: ")
        if answer.strip() != "delete":
            print("Not deleted.", file=sys.stderr)
            return ExitCode.USAGE
    app.delete(ref)
    emit(args, {"deleted": ref.record.as_dict()}, [f"Deleted {ref.location} and its sidecar."])
    return ExitCode.OK
