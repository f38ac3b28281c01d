"""The documented build command itself, on a fresh clone: `git clone REPO DIR && make -C DIR dist`.

A build by packaging/build.sh with an absolute interpreter path never saw that `make dist` handed
build.sh a relative `.venv/bin/python` (exit 127 once build.sh changed folder). The build (conftest.py,
once per session) clones the repository at HEAD (committed work only, as CI and a newcomer get it) and
lets the Makefile create its own venv and build; this test checks it and runs the bundle, which
test_frozen.py then tests end to end. Several minutes on 2 cores with a cold pip cache (the venv's
packages, PyInstaller, five PostgreSQL tool wheels); about half that once pip's cache holds them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from recovery_console import __version__
from tests.packaging.conftest import FreshBuild

pytestmark = pytest.mark.slow

APP = "recovery-console"


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"


@pytest.mark.timeout(2400)
def test_make_dist_on_a_fresh_clone(fresh_build: FreshBuild, tmp_path: Path) -> None:
    for tool in ("git", "make"):
        assert shutil.which(tool), f"{tool} is needed to build as the README says"
    proc, clone = fresh_build.proc, fresh_build.clone
    assert proc.returncode == 0, f"git clone && make dist exited {proc.returncode}\n{fresh_build.tail()}"
    print(f"\ngit clone && make dist: {fresh_build.seconds:.0f} s")

    bundle = clone / "dist" / APP
    assert (clone / "dist" / f"{APP}.tar.gz").is_file()
    version = subprocess.run([bundle / APP, "--version"], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"{APP} {__version__}", _tail(version)
