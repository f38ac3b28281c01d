"""Temporary plaintext (a decrypted `.part`, a parallel restore's `toc.dump`), and the sweep that removes what a dead
process left.

Every temporary item is claimed by a lock file in the per-user 0700 runtime folder (AppPaths.runtime_dir),
which its process keeps locked (fcntl.flock) for as long as the item lives. The kernel drops the lock
when the process ends however it ends (kill -9 included), so a lock that can be taken names an item
whose owner is gone: `sweep`, run when a console starts, removes it. A running process's lock cannot
be taken, so a second console running at the same time keeps its live files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recovery_console.engine.state.orphan_postmaster import stop_servers_in
from recovery_console.errors import from_os_error

LOCK_SUFFIX = ".lock"
NEW_PREFIX = ".new-"
PART_SUFFIX = ".part"
NEW_GRACE = 60.0
"""Seconds a claim being written (NEW_PREFIX) is left alone: its process may not have locked it yet."""
TEMP_FOLDER_PREFIX = "rc-sandbox-"
"""Claimed folders outside the runtime folder, in the system temp folder: a sandbox server run as another user
(root may not run PostgreSQL) cannot reach into the 0700 runtime folder."""


class RuntimeDir:
    """The runtime folder: claims for temporary items, and private folders for them."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._locks: dict[Path, int] = {}
        self._kept: set[Path] = set()

    def lock_fd(self, item: Path) -> int:
        """The open, locked claim of `item` (claimed by this object): a process given it keeps the claim alive."""
        return self._locks[Path(item)]

    def keep(self, item: Path) -> None:
        """Leave `item` and its claim in place when its block ends: whoever holds the claim's lock (a process it
        was handed to) keeps it; once they are gone, the next sweep removes it."""
        self._kept.add(Path(item))

    def ensure(self) -> Path:
        """The folder, created private (0700) if missing and made private again if it is not."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.folder.stat().st_mode & 0o077:
            os.chmod(self.folder, 0o700)
        return self.folder

    @contextmanager
    def claim(self, item: Path) -> Iterator[Path]:
        """Claim `item` (not yet created) for the block; it is removed when the block ends, or by the next
        sweep if this process dies first."""
        try:
            folder = self.ensure()
            new = folder / f"{NEW_PREFIX}{secrets.token_hex(8)}"
            fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise from_os_error("creating a temporary file in", str(self.folder), exc) from exc
        lock = folder / f"{secrets.token_hex(8)}{LOCK_SUFFIX}"
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, json.dumps({"path": str(Path(item).absolute()), "pid": os.getpid()}).encode())
            os.rename(new, lock)  # the sweep only reads complete claims
            self._locks[Path(item)] = fd
            try:
                yield item
            finally:
                self._locks.pop(Path(item), None)
                if Path(item) in self._kept:
                    self._kept.discard(Path(item))
                else:
                    with contextlib.suppress(OSError):
                        _remove(Path(item))
                    if not os.path.lexists(item):
                        lock.unlink(missing_ok=True)  # else the claim stays, and a later sweep tries again
        finally:
            os.close(fd)
            new.unlink(missing_ok=True)  # only left when claiming failed half way

    @contextmanager
    def private_folder(self, prefix: str) -> Iterator[Path]:
        """A new 0700 folder inside the runtime folder, claimed for the block and removed after."""
        path = self.folder / f"{prefix}{secrets.token_hex(8)}"
        with self.claim(path):
            try:
                path.mkdir(mode=0o700)
            except OSError as exc:
                raise from_os_error("creating a temporary folder in", str(self.folder), exc) from exc
            yield path

    def sweep(self) -> list[Path]:
        """Remove the items of every claim whose process is gone (and the claims); the removed items."""
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return []  # no runtime folder yet: nothing was left
        removed = []
        for entry in entries:
            claim = entry.name.endswith(LOCK_SUFFIX)
            if claim or (entry.name.startswith(NEW_PREFIX) and _older_than(entry, NEW_GRACE)):
                item = _take_abandoned(entry, self.folder)
                if item is not None:
                    removed.append(item)
        return removed


LEGACY_PASSFILE_PREFIX = "rc-pgpass-"
"""Releases before 0.1.0 wrote a libpq passfile into a folder of the system temp folder named so, and a killed
process left it there with the database password in it."""


def sweep_legacy_passfiles(temp_dir: Path) -> list[Path]:
    """Remove this user's passfile folders an older release left in `temp_dir`; the folders removed."""
    removed = []
    for folder in temp_dir.glob(LEGACY_PASSFILE_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid():
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def _take_abandoned(claim: Path, folder: Path) -> Path | None:
    """If no process holds `claim`, remove the item it names and the claim itself; the item removed."""
    try:
        fd = os.open(claim, os.O_RDWR)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # its process is alive
        item = _claimed_item(os.read(fd, 1 << 16), folder)
        if item is not None:
            _remove(item)
        claim.unlink(missing_ok=True)
        return item
    except OSError:
        return None  # the item cannot be removed now (a read-only or vanished disk): the claim stays for later
    finally:
        os.close(fd)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _claimed_item(raw: bytes, folder: Path) -> Path | None:
    """The item a claim names, if it is one this module makes: inside the runtime folder, or a hidden `.part`."""
    try:
        path = Path(json.loads(raw)["path"])
    except (ValueError, KeyError, TypeError):
        return None
    inside = path.parent == folder.absolute()
    part = path.name.startswith(".") and path.name.endswith(PART_SUFFIX)
    temp = path.parent == Path(tempfile.gettempdir()).absolute() and path.name.startswith(TEMP_FOLDER_PREFIX)
    return path if inside or part or temp else None


def _remove(item: Path) -> None:
    if item.is_dir() and not item.is_symlink():
        stop_servers_in(item)  # a sandbox's server outlives a killed console: stop it before removing its files
        shutil.rmtree(item, ignore_errors=True)
    else:
        item.unlink(missing_ok=True)
