"""A restore journal's write cut short by kill -9 leaves no temp file after the next start (a chaos run found one)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.restore_journal import journal_dir


def test_a_journal_write_killed_half_way_is_swept_at_the_next_start(tmp_path: Path) -> None:
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    Console(paths).close()
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from recovery_console.engine.console import Console
        from recovery_console.engine.state import restore_journal
        from recovery_console.engine.state.paths import AppPaths
        console = Console(AppPaths(config_dir=Path({str(paths.config_dir)!r}), data_dir=Path({str(paths.data_dir)!r})))
        journal = restore_journal.begin(console.paths, "p", "db", "id", claims=console.runtime)
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # dies inside the next write, before its rename
        journal.will_create("db__restore_1")
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    assert killed.returncode == -9
    assert [p.name for p in journal_dir(paths).glob(".*.part")], "the write was not cut short where meant"
    Console(paths).close()  # the next start
    assert list(journal_dir(paths).glob(".*.part")) == []
    assert len(list(journal_dir(paths).glob("*.json"))) == 1  # the journal as its last whole write left it
