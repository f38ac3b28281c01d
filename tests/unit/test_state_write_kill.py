"""Every state file a console writes (the audit anchor, a target's health, profiles) is claimed while it is written:
a kill -9 in the middle leaves no temp file after the next start (chaos runs found such files twice)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.state.paths import AppPaths

WRITES = {
    "audit anchor": ("console.audit.append('test.kill', 'x', 'ok', {})", "config"),
    "target health": ("console.health.record('t', True, 'kill test')", "data"),
    "profiles": ("console.profiles.create('p', 'postgresql://postgres@127.0.0.1:1/p')", "config"),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_state_write_killed_half_way_is_swept_at_the_next_start(tmp_path: Path, write: str) -> None:
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    Console(paths).close()
    action, folder = WRITES[write]
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from recovery_console.engine.console import Console
        from recovery_console.engine.state.paths import AppPaths
        console = Console(AppPaths(config_dir=Path({str(paths.config_dir)!r}), data_dir=Path({str(paths.data_dir)!r})))
        real_fsync = os.fsync

        def fsync(fd):  # dies inside the next state file's write, before its rename
            if os.readlink(f"/proc/self/fd/{{fd}}").endswith(".part"):
                os.kill(os.getpid(), signal.SIGKILL)
            real_fsync(fd)

        os.fsync = fsync
        {action}
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    assert killed.returncode == -9
    where = tmp_path / folder
    assert list(where.glob(".*.part")), "the write was not cut short where meant"
    Console(paths).close()  # the next start
    assert list(where.glob(".*.part")) == []
