"""A recovery set's files moved as they are (ciphertext, no key) to a target: every member file and its sidecar,
then the set's sidecar, then the manifest last, so the set is listed there only once whole.

What each file must hash to comes from the set's sidecar (docs/FORMAT.md 19.5), agreeing with each member's own
sidecar and with the manifest when it is known (decrypted here before). Each file is streamed and checked by
engine/replicate.py's `send_checked` and read back by its `check_copy`. A copy that was killed leaves a folder
without a manifest (never listed); running it again sends only what is missing, reads every file back, and
writes the manifest.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from recovery_console.engine.container.streams import SIDECAR_SUFFIX, parse_sidecar, sidecar_text
from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.replicate import check_copy, present, send_checked
from recovery_console.engine.sets.manifest import SetManifest
from recovery_console.engine.sets.set_naming import MANIFEST_NAME, is_member_file
from recovery_console.engine.sets.set_sweep import remove_folder
from recovery_console.engine.storage.base import Storage
from recovery_console.errors import IntegrityError, NotFoundError, from_os_error

SET_SIDECAR = MANIFEST_NAME + SIDECAR_SUFFIX
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


class SetSource(Protocol):
    """The files of one set, wherever they are: a target's set folder or a folder on this machine."""

    def location(self, name: str) -> str: ...

    def open(self, name: str) -> ReadableFile: ...

    def size(self, name: str) -> int:
        """The file's length; NotFoundError when it is not there."""

    def read(self, name: str) -> bytes:
        """A small file whole (a sidecar); NotFoundError when it is not there."""


@dataclass(frozen=True)
class StoredSet:
    """A set's folder on a target."""

    storage: Storage
    folder: str

    def location(self, name: str) -> str:
        return self.storage.location(self.folder + name)

    def open(self, name: str) -> ReadableFile:
        return self.storage.open_read(self.folder + name)

    def size(self, name: str) -> int:
        return self.storage.stat(self.folder + name).size

    def read(self, name: str) -> bytes:
        return self.storage.get_bytes(self.folder + name)


@dataclass(frozen=True)
class LocalSet:
    """A set's folder on this machine, as `backup download` writes it."""

    path: Path

    def location(self, name: str) -> str:
        return str(self.path / name)

    def open(self, name: str) -> ReadableFile:
        try:
            return open(self.path / name, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"{self.path / name} does not exist.") from None
        except OSError as exc:
            raise from_os_error("opening", str(self.path / name), exc) from exc

    def size(self, name: str) -> int:
        try:
            return (self.path / name).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"{self.path / name} does not exist.") from None
        except OSError as exc:
            raise from_os_error("reading", str(self.path / name), exc) from exc

    def read(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{self.path / name} does not exist.") from None
        except OSError as exc:
            raise from_os_error("reading", str(self.path / name), exc) from exc


@dataclass(frozen=True)
class SetFile:
    """One file of the set (a member or the manifest) with what it must be, and its sidecar's bytes."""

    name: str
    sha256: str
    size: int
    sidecar: bytes


@dataclass(frozen=True)
class SetPlan:
    """Every file of a set in the order it is written: the members, then the manifest (its sidecar is the set's)."""

    members: tuple[SetFile, ...]
    manifest: SetFile
    checked_against: str
    """"manifest" when the decrypted manifest confirmed the sidecar's hashes and sizes, else "sidecar"."""

    @property
    def files(self) -> tuple[SetFile, ...]:
        return (*self.members, self.manifest)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def plan_set(source: SetSource, manifest: SetManifest | None, manifest_sha256: str | None = None) -> SetPlan:
    """What every file of the set at `source` must be, read without the key: the set's sidecar names each file and
    its SHA-256; each member's own sidecar, and `manifest` when known, must agree. A file missing is refused here,
    before anything is written."""
    try:
        raw = source.read(SET_SIDECAR)
    except NotFoundError:
        raise IntegrityError(f"{source.location(SET_SIDECAR)} is missing: the set's files cannot be checked without "
                             "it; nothing was written.", hint="The set is damaged: use another copy of it.") from None
    lines = _sidecar_lines(raw, source.location(SET_SIDECAR))
    if manifest_sha256 is not None and lines[0] != (manifest_sha256, MANIFEST_NAME):
        raise IntegrityError("The manifest does not match the set's .sha256 sidecar.",
                             hint="The sidecar was damaged or replaced; nothing was written.")
    named = lines[1:]
    if manifest is not None and [(m.sha256, m.key) for m in manifest.members] != named:
        raise IntegrityError(f"The set's sidecar {source.location(SET_SIDECAR)} does not name the members its "
                             "manifest pins.", hint="The set is damaged: use another copy of it.")
    sizes = {m.key: m.size for m in manifest.members} if manifest is not None else {}
    members = tuple(_member(source, sha256, name, sizes.get(name)) for sha256, name in named)
    manifest_file = SetFile(MANIFEST_NAME, lines[0][0], _size(source, MANIFEST_NAME), raw)
    return SetPlan(members, manifest_file, "manifest" if manifest is not None else "sidecar")


def _sidecar_lines(raw: bytes, where: str) -> list[tuple[str, str]]:
    """(SHA-256, file name) per line: the manifest first, then each member file, as FORMAT.md 19.5 writes them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    lines = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            raise IntegrityError(f"The set's sidecar {where} is not in sha256sum format.",
                                 hint="The set is damaged: use another copy of it.")
        lines.append((match[1].lower(), match[2]))
    if not lines or lines[0][1] != MANIFEST_NAME or not all(is_member_file(name) for _, name in lines[1:]) or \
            len({name for _, name in lines}) != len(lines) or len(lines) < 2:
        raise IntegrityError(f"The set's sidecar {where} does not name the manifest and then its member files.",
                             hint="The set is damaged: use another copy of it.")
    return lines


def _member(source: SetSource, sha256: str, name: str, size: int | None) -> SetFile:
    found = _size(source, name)
    if size is not None and found != size:
        raise IntegrityError(f"Member file {name} is {found:,} bytes at {source.location(name)}; the manifest says "
                             f"{size:,}. Nothing was written.", hint="The set is damaged: use another copy of it.")
    try:
        side = source.read(name + SIDECAR_SUFFIX)
    except NotFoundError:
        side = sidecar_text(sha256, name)
    if parse_sidecar(side) != sha256:
        raise IntegrityError(f"Member file {name}'s own .sha256 sidecar disagrees with the set's sidecar.",
                             hint="The set is damaged: use another copy of it.")
    return SetFile(name, sha256, found, side)


def _size(source: SetSource, name: str) -> int:
    try:
        return source.size(name)
    except NotFoundError:
        raise IntegrityError(f"{name} is missing from the set at {source.location(name)}; nothing was "
                             "written.", hint="The set is damaged: use another copy of it.") from None


@dataclass(frozen=True)
class SentSet:
    """A set now whole on a target, every file read back there; `already` when it was whole there before."""

    target: str
    folder: str
    files: int
    size: int
    manifest_sha256: str
    already: bool


def send_set(plan: SetPlan, source: SetSource, dest: Storage, folder: str, reporter: Reporter) -> SentSet:
    """Put the set's files into `folder` on `dest`, members first and the manifest last, each checked on the way and
    read back. A set already whole there is only read back. On a failure, a folder this call started is removed;
    one an earlier (killed) copy left stays unfinished, for the next run to complete."""
    listed = {info.key[len(folder):]: info.size for info in dest.list(folder)}
    if MANIFEST_NAME in listed:
        try:
            _check_all(plan, dest, folder, reporter)
        except NotFoundError as exc:
            raise IntegrityError(f"The copy of the set already on target '{dest.name}' is damaged: {exc.message}",
                                 hint="Delete that copy of the set, then copy it again.") from None
        return SentSet(dest.name, folder, len(plan.files), plan.size, plan.manifest.sha256, True)
    missing = [f for f in plan.members if listed.get(f.name) != f.size]
    dest.check_room(sum(f.size for f in missing) + plan.manifest.size, "")
    try:
        reporter.start(Phase.UPLOAD, sum(f.size for f in missing))
        for item in missing:
            _send(source, item, dest, folder, reporter)
        for item in plan.members:
            if not present(dest, folder + item.name + SIDECAR_SUFFIX) or \
                    dest.get_bytes(folder + item.name + SIDECAR_SUFFIX) != item.sidecar:
                dest.put_bytes(folder + item.name + SIDECAR_SUFFIX, item.sidecar)
        reporter.start(Phase.VERIFY, sum(f.size for f in plan.members))
        for item in plan.members:
            try:
                check_copy(dest, folder + item.name, item.sha256, reporter)
            except IntegrityError:
                if item in missing:
                    raise  # sent just now, checked on the way, and read back otherwise: the target altered it
                _send(source, item, dest, folder, reporter)  # an earlier copy's file that is not the member
                check_copy(dest, folder + item.name, item.sha256, reporter)
        dest.put_bytes(folder + SET_SIDECAR, plan.manifest.sidecar)
        _send(source, plan.manifest, dest, folder, reporter)  # last: from here on the set exists there
    except BaseException:
        if not listed:
            _remove_quietly(dest, folder)
        raise
    try:
        check_copy(dest, folder + MANIFEST_NAME, plan.manifest.sha256, Reporter())
    except BaseException:
        with suppress(NotFoundError):
            dest.delete(folder + MANIFEST_NAME)
        raise
    reporter.finish()
    return SentSet(dest.name, folder, len(plan.files), plan.size, plan.manifest.sha256, False)


def _send(source: SetSource, item: SetFile, dest: Storage, folder: str, reporter: Reporter) -> None:
    send_checked(partial(source.open, item.name), source.location(item.name), dest, folder + item.name, item.sha256,
                 reporter)


def _check_all(plan: SetPlan, dest: Storage, folder: str, reporter: Reporter) -> None:
    """A set already whole on `dest`: every file read back against the plan, nothing written."""
    reporter.start(Phase.VERIFY, plan.size)
    for item in plan.members:
        check_copy(dest, folder + item.name, item.sha256, reporter)
    where = dest.location(folder + SET_SIDECAR)
    if _sidecar_lines(dest.get_bytes(folder + SET_SIDECAR), where) != _sidecar_lines(plan.manifest.sidecar, where):
        raise IntegrityError(f"The set's sidecar at {dest.location(folder + SET_SIDECAR)} does not match the "
                             "original's.", hint="That copy of the set is damaged: delete it and copy the set again.")
    check_copy(dest, folder + MANIFEST_NAME, plan.manifest.sha256, reporter)
    reporter.finish()


def _remove_quietly(dest: Storage, folder: str) -> None:
    """Best effort: what cannot be removed stays an unfinished set, never listed, swept later."""
    with suppress(Exception):
        remove_folder(dest, folder)
