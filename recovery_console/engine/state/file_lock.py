"""Short locks on files beside state files, so that two processes never interleave a read-modify-write of
one. The OS drops a lock when its holder exits, kill -9 included; a holder that is stopped (SIGSTOP, a
debugger) or hung keeps it, so every wait here is bounded and ends in an error that says so."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recovery_console.errors import BusyError, from_os_error

WAIT_SECONDS = 30.0
"""How long a short lock is waited for: its holders keep it for one read and one write, never for seconds."""


def lock_within(fd: int, mode: int, what: str, path: Path | str, timeout: float | None = None) -> None:
    """Take flock `mode` (LOCK_EX or LOCK_SH) on `fd`, waiting at most `timeout` seconds (WAIT_SECONDS by
    default); else raise BusyError naming `what` and `path`."""
    limit = WAIT_SECONDS if timeout is None else timeout
    deadline, pause = time.monotonic() + limit, 0.001
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise from_os_error("locking", str(path), exc) from exc
        if time.monotonic() >= deadline:
            raise BusyError(f"The {what} {path} has been locked by another process for over {limit:g} seconds.",
                            hint="Another Recovery Console window or command holds it and is stopped or hung: let "
                                 "it finish, or end it, then try again. Nothing was changed.")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


@contextmanager
def held(lock_path: Path, what: str = "state file lock") -> Iterator[None]:
    """Hold `lock_path` (made, mode 0600, in a 0700 folder, if missing) exclusively for the block, waiting for
    it a bounded time (lock_within)."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise from_os_error("locking", str(lock_path), exc) from exc
    try:
        lock_within(fd, fcntl.LOCK_EX, what, lock_path)
        yield
    finally:
        os.close(fd)
