"""Stopping a PostgreSQL client tool with the workers it started (it runs in a process group of its own)."""

from __future__ import annotations

import os
import signal
import subprocess

TERMINATE_GRACE = 3.0


def stop_group(proc: subprocess.Popen[bytes], grace: float = TERMINATE_GRACE) -> None:
    """SIGTERM to the tool's process group, SIGKILL if it lingers past `grace` seconds; nothing if it has ended."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
