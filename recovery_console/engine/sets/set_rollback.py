"""A whole recovery set rolled back in one step: every member a set restore replaced gets its previous state back —
each database through its profile's rollback, each folder by swapping its kept copy back in (the restored folder
kept beside it as `<dir>.undone_<time>`): exchanged in one step where the system can (Linux's renameat2), so the
folder's path is never empty, else by two renames.

Every member is looked at first, under the lock of every database in the set (and of the set restore itself): if
one is busy, or one member's kept copy is gone or changed, nothing is changed. Each member's state is read from
what is really there (the server's databases and their OIDs, the folders' inodes), so a rollback killed half way
is finished by running it again; a member that fails stops the rollback and the error names what was rolled back
and what was not.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_kept import history, live_oid
from recovery_console.engine.restore_preflight import lock_identity
from recovery_console.engine.sets.set_restores import (
    DATABASE,
    ROLLED_BACK,
    ROLLING_BACK,
    KeptMember,
    SetRestore,
    find_restore,
    inode,
    update_member,
)
from recovery_console.engine.state import restore_history
from recovery_console.engine.state.locks import database_lock
from recovery_console.errors import RecoveryError, UsageError, from_os_error

TODO, DONE, HALF, SWAPPED = "to roll back", "rolled back", "half swapped", "swapped"
RENAME_EXCHANGE = 2
"""renameat2's flag (Linux 3.15+): two paths exchanged in one step, so the folder's path is never empty."""
AT_FDCWD = -100


@dataclass
class SetRollback:
    """What a set rollback did: the members rolled back now, those found rolled back already, and for each where
    the previous state is live again and where the restored one was set aside."""

    set_id: str
    restore_id: str
    rolled_back: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    set_aside: dict[str, str] = field(default_factory=dict)


def rollback_set(console: Console, profile: str, ref: str) -> SetRollback:
    """Roll back the newest restore of the set `ref` names (restored through `profile`), every member of it."""
    found = find_restore(console.paths, profile, ref)
    if found.state == ROLLED_BACK:
        raise UsageError(f"The restore {found.id} of set {found.set_id} is rolled back already; nothing was changed.",
                         hint="An earlier restore of the set is rolled back by its own restore id, as the restore "
                              "history lists it.")
    result = SetRollback(found.set_id, found.id)
    with ExitStack() as locks:
        for identity, database in _lock_order(console, found):  # one order: two set jobs cannot deadlock
            locks.enter_context(database_lock(console.paths, identity, "rollback", database))
        with console.audited("set.rollback", found.set_id, {"profile": profile, "restore": found.id}) as detail:
            states = {m.name: _state(console, m) for m in found.members}
            blocked = {name: why for name, (state, why) in states.items() if state not in (TODO, DONE, HALF, SWAPPED)}
            if blocked:
                raise UsageError("The set cannot be rolled back whole; nothing was changed: " +
                                 "; ".join(f"member {n}: {why}" for n, why in blocked.items()) + ".",
                                 hint="Roll back the other members one by one from their restore history, or "
                                      "bring the missing copy back first.")
            for member in found.members:
                if states[member.name][0] == DONE:
                    result.already.append(member.name)
                    if member.state != ROLLED_BACK:
                        update_member(console.paths, profile, found.id, member.name, state=ROLLED_BACK)
                    continue
                try:
                    result.set_aside[member.name] = _roll_back(console, found, member, states[member.name][0])
                except RecoveryError as exc:
                    detail.update(rolled_back=result.rolled_back, already=result.already)
                    raise _stopped(found, member, exc, result) from exc
                result.rolled_back.append(member.name)
            detail.update(rolled_back=result.rolled_back, already=result.already, set_aside=result.set_aside)
    return result


def _lock_order(console: Console, found: SetRestore) -> list[tuple[str, str]]:
    """(lock identity, name shown) of every database member's database and of the set restore itself, sorted."""
    wanted = {(f"set-restore/{found.profile}/{found.id}", f"set {found.set_id}")}
    for member in found.members:
        if member.kind == DATABASE:
            assert member.profile is not None and member.database is not None
            wanted.add((lock_identity(console.profiles.store.get(member.profile), member.database), member.database))
    return sorted(wanted)


def _state(console: Console, member: KeptMember) -> tuple[str, str]:
    """(TODO, DONE, HALF, SWAPPED or 'blocked', why): what the member's rollback still needs, read from what is
    there."""
    if member.kind == DATABASE:
        return _database_state(console, member)
    return _folder_state(member)


def _database_state(console: Console, member: KeptMember) -> tuple[str, str]:
    assert member.profile is not None and member.entry is not None
    found = history(console, member.profile)
    if found.server_error:
        return "blocked", f"its server could not be asked ({found.server_error})"
    row = next((r for r in found.rows if r.entry.id == member.entry), None)
    if row is None:
        return "blocked", f"its restore ({member.entry}) is gone from the restore history of {member.profile}"
    if row.entry.result == restore_history.ROLLED_BACK:
        return DONE, ""
    if row.can_roll_back:
        return TODO, ""
    assert member.database is not None
    if row.entry.previous_oid is not None and \
            live_oid(console, member.profile, member.database) == row.entry.previous_oid:
        return DONE, ""  # swapped back by a rollback killed before its history was written
    return "blocked", f"{member.kept} is {row.state or 'not kept'}"


def _folder_state(member: KeptMember) -> tuple[str, str]:
    assert member.folder is not None
    folder, kept = inode(Path(member.folder)), inode(Path(member.kept))
    undone = inode(Path(member.undone)) if member.undone else None
    if folder == member.restored_inode and kept == member.kept_inode:
        return TODO, ""
    if folder == member.kept_inode and kept == member.restored_inode and member.undone and undone is None:
        return SWAPPED, ""  # killed after the exchange: the restored folder, under the kept one's name, goes aside
    if undone is not None and undone == member.restored_inode:
        if folder == member.kept_inode:
            return DONE, ""
        if folder is None and kept == member.kept_inode:
            return HALF, ""  # killed between the two renames: the kept folder goes back in
    if kept != member.kept_inode:
        return "blocked", f"the kept folder {member.kept} is gone or was replaced"
    return "blocked", f"{member.folder} is no longer the folder the restore put there"


def _roll_back(console: Console, found: SetRestore, member: KeptMember, state: str) -> str:
    """One member's previous state back in place; where the restored one now is."""
    if member.kind == DATABASE:
        assert member.profile is not None
        update_member(console.paths, found.profile, found.id, member.name, state=ROLLING_BACK)
        _, aside = Restorer(console).rollback(member.profile, previous=member.kept, lock_held=True)
        update_member(console.paths, found.profile, found.id, member.name, state=ROLLED_BACK, undone=aside)
        return aside
    assert member.folder is not None
    folder = Path(member.folder)
    with console.audited("set.rollback-folder", str(folder), {"set": found.set_id, "member": member.name,
                                                               "kept": member.kept}) as detail:
        kept = Path(member.kept)
        if state == TODO:
            undone = folder.with_name(f"{folder.name}.undone_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
            if os.path.lexists(undone):
                raise UsageError(f"{undone} already exists; nothing was moved.", hint="Wait a second and try again.")
            update_member(console.paths, found.profile, found.id, member.name, state=ROLLING_BACK,
                          undone=str(undone))  # recorded before anything moves: a resumed rollback finds it
            if _exchange(folder, kept):  # the previous folder is in place at once; the restored one goes aside
                _rename(kept, undone)
            else:  # no exchange here: the folder's path is empty between these two renames
                _rename(folder, undone)
                _rename(kept, folder)
        else:  # a rollback killed half way: the step it did not take
            assert member.undone is not None
            undone = Path(member.undone)
            _rename(kept, undone if state == SWAPPED else folder)
        update_member(console.paths, found.profile, found.id, member.name, state=ROLLED_BACK)
        detail.update(set_aside=str(undone))
        return str(undone)


def _exchange(first: Path, second: Path) -> bool:
    """Exchange two folders in one step (Linux renameat2); False where the system or its file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise from_os_error(f"exchanging {first} with", str(second), OSError(code, os.strerror(code)))


def _rename(source: Path, destination: Path) -> None:
    try:
        os.rename(source, destination)
    except OSError as exc:
        raise from_os_error(f"moving {source} to", str(destination), exc) from exc


def _stopped(found: SetRestore, member: KeptMember, exc: RecoveryError, result: SetRollback) -> RecoveryError:
    """The error of a rollback stopped at `member`: what was rolled back, what was not, and how to finish."""
    done = result.already + result.rolled_back
    left = [m.name for m in found.members if m.name not in done]
    error = RecoveryError(
        f"The set rollback stopped at member {member.name}: {exc.message} Rolled back: "
        f"{', '.join(done) or 'none'}. Not rolled back: {', '.join(left)}.",
        hint=f"{exc.hint or 'Fix what stopped it.'} Then roll the set back again: the members rolled back already "
             "are skipped, the others finished.",
        cli_hint=f"{exc.hint_for_cli() or 'Fix what stopped it.'} Then run `recovery-console restore rollback "
                 f"--profile {found.profile} --set {found.set_id}` again: the members rolled back already are skipped.")
    error.exit_code = exc.exit_code
    return error

