"""The documented build command itself, on a fresh clone: `git clone REPO DIR && make -C DIR dist`.

test_frozen.py builds with packaging/build.sh and an absolute interpreter path, so it never saw
that `make dist` handed build.sh a relative `.venv/bin/python` (exit 127 once build.sh changed
folder). This test clones the repository at HEAD (committed work only, as CI and a newcomer get
it), lets the Makefile create its own venv and build, and runs the bundle. Several minutes on 2
cores with a cold pip cache (the venv's packages, PyInstaller, five PostgreSQL tool wheels); about
half that once pip's cache holds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from recovery_console import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
APP = "recovery-console"


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"


@pytest.mark.timeout(2400)
def test_make_dist_on_a_fresh_clone(tmp_path: Path) -> None:
    for tool in ("git", "make"):
        assert shutil.which(tool), f"{tool} is needed to build as the README says"
    clone = tmp_path / "clone"
    # Nothing of this test run leaks into the build: no interpreter, venv or console home of ours.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "RECOVERY_CONSOLE_", "QT_", "PYTEST"))}
    started = time.monotonic()
    proc = subprocess.run(f"git clone --quiet {ROOT} {clone} && make -C {clone} dist", shell=True, env=env,
                          capture_output=True, text=True, timeout=2300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"git clone && make dist exited {proc.returncode}\n{_tail(proc)}"
    print(f"\ngit clone && make dist: {time.monotonic() - started:.0f} s")

    bundle = clone / "dist" / APP
    assert (clone / "dist" / f"{APP}.tar.gz").is_file()
    version = subprocess.run([bundle / APP, "--version"], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"{APP} {__version__}", _tail(version)
