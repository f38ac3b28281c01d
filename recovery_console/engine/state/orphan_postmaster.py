"""Stopping a PostgreSQL server by its data folder's postmaster.pid, after proving the PID really is that server.

A sandbox server (engine/pg/private_server.py) lives in a claimed runtime folder; when its console was
killed, the server outlives it, and the next start's sweep (runtime_dir.py) must stop it before removing
its folder. A PID file can be stale and its PID reused by another program, so a PID is only signalled
when the process is a `postgres` whose working folder is that data folder (the postmaster chdirs there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

PID_FILE = "postmaster.pid"
STOP_WAIT = 10.0
POLL = 0.05


def postmaster_pid(data_dir: Path) -> int | None:
    """The PID the data folder's postmaster.pid names (its first line), or None."""
    try:
        first = (data_dir / PID_FILE).read_text("utf-8", "replace").split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() and int(first) > 0 else None


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a postgres process serving `data_dir` (not a stranger that got a stale PID)."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            exe_name = Path(os.readlink(proc / "exe")).name.removesuffix(" (deleted)")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            return False
        return exe_name in ("postgres", "postmaster") and os.path.realpath(cwd) == os.path.realpath(data_dir)
    try:  # no /proc: the command name and its -D argument
        shown = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                               timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "postgres" in shown and str(data_dir) in shown


def stop_postmaster(data_dir: Path, wait: float = STOP_WAIT) -> bool:
    """Stop the server of `data_dir` if it still runs: immediate shutdown (SIGQUIT), SIGKILL if it lingers.

    True when no server of that folder runs any more (none did, or it stopped)."""
    pid = postmaster_pid(data_dir)
    if pid is None or not alive(pid) or not is_postmaster_of(pid, data_dir):
        return True
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL)
        if not alive(pid):
            return True
    return False


def stop_servers_in(folder: Path) -> None:
    """Stop every server whose data folder is `folder` or directly inside it (a sandbox's layout)."""
    with contextlib.suppress(OSError):
        if not folder.is_dir() or folder.is_symlink():
            return
        candidates = [folder, *(child for child in folder.iterdir() if child.is_dir() and not child.is_symlink())]
        for data_dir in candidates:
            if (data_dir / PID_FILE).is_file():
                stop_postmaster(data_dir)
