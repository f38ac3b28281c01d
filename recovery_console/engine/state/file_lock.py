"""A short exclusive lock on a lock file beside a state file, so that two processes never interleave a
read-modify-write of it. The OS drops the lock when its holder exits, kill -9 included."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recovery_console.errors import from_os_error


@contextmanager
def held(lock_path: Path) -> Iterator[None]:
    """Hold `lock_path` (made, mode 0600, in a 0700 folder, if missing) exclusively for the block; waits for it."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise from_os_error("locking", str(lock_path), exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
