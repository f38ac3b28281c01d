"""A recovery set's folder on this machine (as `backup download` writes it) opened offline with the key: the sealed
manifest decrypted, each member file found and checked against the size and SHA-256 the manifest pins, and one
member taken out (a database to its pg_dump archive, a folder into a new folder) with the checks `decrypt --member`
applies to a set on a target. A damaged member is named; the intact ones stay usable."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.io_protocols import ReadIntoStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.results import FileResult
from recovery_console.engine.sets.manifest import ManifestMember, SetManifest, open_manifest
from recovery_console.engine.sets.set_listing import MemberVerdict, verify_members
from recovery_console.engine.sets.set_members import (
    FolderResult,
    belongs,
    database_only,
    decrypt_member,
    extract_member,
    folder_only,
    pick_member,
)
from recovery_console.engine.sets.set_naming import MANIFEST_NAME
from recovery_console.errors import IntegrityError, UsageError, from_os_error
from recovery_console.models.backup import BackupMetadata

DAMAGED_HINT = ("Take this member from another copy of the set (download the set again from a target that holds "
                "it); the set's other members can still be extracted from this folder.")


def is_set_folder(path: Path) -> bool:
    """Whether `path` is a folder holding a set's manifest (what `backup download` of a set writes)."""
    return path.is_dir() and (path / MANIFEST_NAME).is_file()


@dataclass(frozen=True)
class LocalMember:
    """One member of the set as this folder holds it; `problem` says what is wrong with its file, if anything."""

    member: ManifestMember
    path: Path
    problem: str | None = None


@dataclass(frozen=True)
class LocalSet:
    """A set's folder opened with the key: its manifest, and every member's file as found."""

    folder: Path
    manifest: SetManifest
    members: tuple[LocalMember, ...]

    def member(self, name: str) -> LocalMember:
        wanted = pick_member(self.manifest, name)
        return next(m for m in self.members if m.member == wanted)

    @property
    def damaged(self) -> tuple[LocalMember, ...]:
        return tuple(m for m in self.members if m.problem is not None)


def open_local_set(console: Console, folder: Path, secret: str) -> LocalSet:
    """The set in `folder`: its manifest opened with `secret` (a wrong secret or an altered manifest refused), each
    member file's presence and size checked against it (no member read yet); audited."""
    with console.audited("set.open-folder", str(folder.absolute())) as detail:
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            raise UsageError(f"{folder} holds no {MANIFEST_NAME}: it is not a recovery set's folder.",
                             hint="Choose the folder a set was downloaded into, or a single backup file.")
        try:
            with open(manifest_path, "rb") as stream:
                manifest = open_manifest(stream, secret).manifest
        except OSError as exc:
            raise from_os_error("reading", str(manifest_path), exc) from exc
        members = tuple(_found(folder, m) for m in manifest.members)
        detail.update(set_id=manifest.set_id, members=len(members),
                      damaged=[m.member.name for m in members if m.problem])
        return LocalSet(folder, manifest, members)


def _found(folder: Path, member: ManifestMember) -> LocalMember:
    path = folder / member.key
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return LocalMember(member, path, f"its file {member.key} is missing from the folder")
    except OSError as exc:
        return LocalMember(member, path, f"its file {member.key} cannot be read ({exc.strerror})")
    if not path.is_file():
        return LocalMember(member, path, f"{member.key} is not a regular file")
    if size != member.size:
        return LocalMember(member, path, f"its file {member.key} is {size:,} bytes; the manifest says {member.size:,}")
    return LocalMember(member, path)


def member_file(opened: LocalSet, name: str) -> BackupRef:
    """The member's file as a backup to act on, refused (naming the member and what to do) when it is damaged."""
    found = opened.member(name)
    if found.problem is not None:
        raise IntegrityError(f"Member '{name}' of this set cannot be used: {found.problem}.", hint=DAMAGED_HINT)
    return BackupRef(location=str(found.path.absolute()), path=found.path)


def prove_member_file(opened: LocalSet, name: str, reporter: Reporter | None = None) -> BackupRef:
    """The member's file read whole and its SHA-256 compared with the one the (authenticated) manifest pins, so
    whatever reads it next as a single backup (the workbench) reads exactly the member the set holds."""
    reporter = reporter or Reporter()
    ref = member_file(opened, name)
    member = opened.member(name).member
    assert ref.path is not None
    digest = hashlib.sha256()
    reporter.start(Phase.VERIFY, member.size)
    try:
        with open(ref.path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                reporter.advance(len(chunk))
    except OSError as exc:
        raise from_os_error("reading", str(ref.path), exc) from exc
    reporter.finish()
    if digest.hexdigest() != member.sha256:
        raise IntegrityError(f"Member '{name}' ({member.key}) is not the file the set's manifest pins: its SHA-256 "
                             "differs.", hint=DAMAGED_HINT)
    return ref


def confirm_member(opened: LocalSet, name: str, metadata: BackupMetadata | None) -> None:
    """What a reader decrypted from the member's file (its sealed metadata) must name this very member of this set,
    so a file put in its place after `prove_member_file` is caught by the read itself."""
    member = opened.member(name).member
    if metadata is None or not belongs(metadata, member, opened.manifest.set_id):
        raise IntegrityError(f"Member '{name}' ({member.key}) decrypts to another backup than the set's manifest "
                             "names.", hint=DAMAGED_HINT)


def decrypt_local_member(console: Console, opened: LocalSet, name: str, out: Path, secret: str, *,
                         overwrite: bool = False, reporter: Reporter | None = None) -> FileResult:
    """A database member to its plain pg_dump archive at `out`, kept only if it is the archive the manifest names."""
    member = opened.member(name).member
    database_only(member)
    return decrypt_member(console, opened.manifest, member, member_file(opened, name), out, secret,
                          overwrite=overwrite, reporter=reporter)


def extract_local_member(console: Console, opened: LocalSet, name: str, into: Path, secret: str,
                         reporter: Reporter | None = None) -> FolderResult:
    """A folder member into the new folder `into`, kept only once its file proved to be the member the manifest
    pins; entries that would escape the folder are refused by name (FolderResult.extracted.refused)."""
    member = opened.member(name).member
    folder_only(member)
    return extract_member(console, opened.manifest, member, member_file(opened, name), into, secret,
                          {"set": str(opened.folder.absolute()), "member": name}, reporter)


def verify_local_set(console: Console, folder: Path, secret: str,
                     reporter: Reporter | None = None) -> tuple[LocalSet, tuple[MemberVerdict, ...]]:
    """Every member file in the set's folder read whole with the key and checked against what the manifest pins, as
    `backup verify` checks a set on a target; a damaged member is named. Audited."""
    reporter = reporter or Reporter()
    opened = open_local_set(console, folder, secret)
    with console.audited("backup.verify-set-folder", str(folder.absolute()),
                         {"set_id": opened.manifest.set_id}) as detail:
        if opened.damaged:
            raise IntegrityError(f"The set in {folder} is damaged: " + "; ".join(
                f"member '{m.member.name}': {m.problem}" for m in opened.damaged) + ".", hint=DAMAGED_HINT)
        paths = {found.member.name: found.path for found in opened.members}

        @contextmanager
        def member_stream(member: ManifestMember) -> Iterator[ReadIntoStream]:
            try:
                with open(paths[member.name], "rb") as stream:
                    yield stream
            except OSError as exc:
                raise from_os_error("reading", str(paths[member.name]), exc) from exc

        verdicts = verify_members(opened.manifest, secret, reporter, member_stream, lambda member: None)
        detail.update(members=len(verdicts))
        return opened, verdicts
