"""The documented build, run once per session: `git clone REPO DIR && make -C DIR dist`.

test_make_dist.py checks that it succeeds and yields a runnable bundle; test_frozen.py tests that same bundle
end to end. Building once for both spares the suite a second PyInstaller build (minutes on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FreshBuild:
    """A fresh clone of the repository at HEAD after `make -C clone dist`, and how that went."""

    clone: Path
    proc: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def dist(self) -> Path:
        return self.clone / "dist"

    def tail(self) -> str:
        return f"--- stdout\n{self.proc.stdout[-6000:]}\n--- stderr\n{self.proc.stderr[-6000:]}"


@pytest.fixture(scope="session")
def fresh_build(tmp_path_factory: pytest.TempPathFactory) -> FreshBuild:
    """Committed work only, as CI and a newcomer get it: the Makefile creates its own venv and builds. Nothing of
    this test run leaks into the build: no interpreter, venv or console home of ours."""
    clone = tmp_path_factory.mktemp("fresh") / "clone"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "RECOVERY_CONSOLE_", "QT_", "PYTEST"))}
    started = time.monotonic()
    proc = subprocess.run(f"git clone --quiet {ROOT} {clone} && make -C {clone} dist", shell=True, env=env,
                          capture_output=True, text=True, timeout=2300, stdin=subprocess.DEVNULL)
    return FreshBuild(clone, proc, time.monotonic() - started)
