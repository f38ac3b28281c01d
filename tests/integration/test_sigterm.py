"""SIGTERM (what `timeout`, systemd and container runtimes send) stops the CLI like Ctrl-C, leaving nothing
behind; after kill -9 the next start removes the temporary plaintext, but never a live console's.

Each case runs the real CLI as a subprocess: a decrypt of a large synthetic backup, and a
`restore run --jobs 2` (which keeps the archive's TOC in a file for pg_restore) against a real PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import ExitCode
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.fixtures.processes import children_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LARGE = 600 << 20


def cli(home: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", *argv], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    proc = cli(home, *argv)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_for(condition: Callable[[], bool], timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} not reached in {timeout} s")


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part"))


def runtime_items(home: Path) -> list[Path]:
    runtime = AppPaths(config_dir=home / "config", data_dir=home / "data").runtime_dir
    return sorted(runtime.iterdir()) if runtime.exists() else []


def stopped_plainly(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for a signalled CLI; its stderr, after checking it exited 130 without a traceback."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == ExitCode.CANCELLED, (proc.returncode, err)
    assert "Traceback" not in err and "Unexpected error" not in err
    return err


@pytest.fixture(scope="module")
def large_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.synthetic import make_large_backup

    folder = tmp_path_factory.mktemp("large")
    return make_large_backup(folder / "large.enc", LARGE, SECRET, FAST_ITERATIONS)


@pytest.fixture
def decrypt_home(tmp_path: Path) -> Path:
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "out").mkdir()
    return tmp_path / "home"


def start_decrypt(home: Path, backup: Path, out: Path) -> subprocess.Popen[str]:
    return cli(home, "decrypt", str(backup), "-o", str(out), "--secret-key-file", str(home.parent / "secret"))


def part_growing(folder: Path, name: str) -> Callable[[], bool]:
    return lambda: any(p.name.startswith(f".{name}.") and p.stat().st_size > (16 << 20) for p in parts(folder))


def test_sigterm_stops_a_decrypt_like_ctrl_c_and_leaves_no_plaintext(large_backup, decrypt_home) -> None:
    out_dir = decrypt_home.parent / "out"
    proc = start_decrypt(decrypt_home, large_backup, out_dir / "db.dump")
    wait_for(part_growing(out_dir, "db.dump"), what="the decrypt's .part growing")
    proc.send_signal(signal.SIGTERM)
    err = stopped_plainly(proc)
    assert "Cancelled" in err
    assert list(out_dir.iterdir()) == []
    assert [p for p in runtime_items(decrypt_home) if p.suffix == ".lock"] == []


def test_after_kill_9_the_next_start_removes_the_plaintext_but_not_a_live_consoles(large_backup,
                                                                                   decrypt_home) -> None:
    out_dir = decrypt_home.parent / "out"
    live = start_decrypt(decrypt_home, large_backup, out_dir / "live.dump")
    killed = start_decrypt(decrypt_home, large_backup, out_dir / "killed.dump")
    try:
        wait_for(part_growing(out_dir, "killed.dump"), what="the killed decrypt's .part growing")
        wait_for(part_growing(out_dir, "live.dump"), what="the live decrypt's .part growing")
        live.send_signal(signal.SIGSTOP)  # holds its claim, writes nothing: a slow but live console
        killed.kill()
        killed.wait()
        left = [p for p in parts(out_dir) if p.name.startswith(".killed.dump.")]
        assert left, "kill -9 leaves the partial plaintext"
        live_part = [p for p in parts(out_dir) if p.name.startswith(".live.dump.")]

        done = run_cli(decrypt_home, "profile", "list")  # any command's start sweeps
        assert done.returncode == 0, done.stderr
        assert [p for p in parts(out_dir) if p.name.startswith(".killed.dump.")] == []
        assert [p for p in parts(out_dir) if p.name.startswith(".live.dump.")] == live_part
    finally:
        live.send_signal(signal.SIGCONT)
    out, err = live.communicate(timeout=300)
    assert live.returncode == 0, err
    assert (out_dir / "live.dump").stat().st_size == LARGE
    assert parts(out_dir) == []
    assert [p for p in runtime_items(decrypt_home) if p.suffix == ".lock"] == []


# --- restore --jobs 2 ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def restore_scenario(tmp_path_factory, pg_server_factory, request):
    """A private PostgreSQL with a sample database, its backup on a local target, and a console home."""
    from tests.fixtures.postgres import create_sample_database

    pg = pg_server_factory.new(15)
    request.addfinalizer(pg.remove)
    home = tmp_path_factory.mktemp("sigterm-home")
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (home / "target").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(home / "target")}))
    database = create_sample_database(pg, f"sig_{uuid.uuid4().hex[:8]}", scale=3)
    console.profiles.create("prod", pg.dsn(database), target="vault")
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = backup_database(console, "prod", secret=SECRET)
    (home / "secret").write_text(SECRET)
    return dict(pg=pg, home=home, database=database, backup=record.short_id)


def start_restore(s) -> subprocess.Popen[str]:
    return cli(s["home"], "restore", "run", s["backup"], "--profile", "prod", "--yes", "--jobs", "2",
               "--secret-key-file", str(s["home"] / "secret"))


def toc_files(home: Path) -> list[Path]:
    """The archive TOCs restores keep in their runtime folders for pg_restore --jobs's post-data step."""
    return [p for folder in runtime_items(home) if folder.is_dir() for p in folder.iterdir()]


def pg_restores_of(console_pid: int) -> dict[int, list[bytes]]:
    """The pg_restore children of a console restoring into a database: pid -> argv."""
    return {pid: argv for pid, argv in children_of(console_pid).items()  # not discovery's `--version` run
            if argv[0].endswith(b"pg_restore") and any(arg.startswith(b"--dbname=") for arg in argv)}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def leftover_pgpass() -> list[Path]:
    return [p for p in Path(tempfile.gettempdir()).glob("rc-pgpass-*") if p.stat().st_uid == os.getuid()]


def scratch_databases(s) -> list[str]:
    return [db for db in s["pg"].databases() if "__restore_" in db]


@pytest.mark.parametrize("moment", ["streaming", "post-data"])
def test_sigterm_stops_a_parallel_restore_and_removes_its_files(restore_scenario, moment) -> None:
    s = restore_scenario
    pgpass_before = leftover_pgpass()
    proc = start_restore(s)
    section = b"--section=data" if moment == "streaming" else b"--section=post-data"
    wait_for(lambda: any(section in argv for argv in pg_restores_of(proc.pid).values()) and bool(toc_files(s["home"])),
             what=f"pg_restore running ({moment})")
    files = toc_files(s["home"])
    children = list(pg_restores_of(proc.pid))
    proc.send_signal(signal.SIGTERM)
    stopped_plainly(proc)
    assert files and [f for f in files if f.exists()] == []
    assert [p for p in runtime_items(s["home"]) if p.suffix == ".lock" or p.is_dir()] == []
    assert leftover_pgpass() == pgpass_before
    assert [pid for pid in children if alive(pid)] == []
    assert scratch_databases(s) == []


def test_after_kill_9_of_a_parallel_restore_the_next_start_removes_its_archive(restore_scenario) -> None:
    s = restore_scenario
    proc = start_restore(s)
    children: list[int] = []
    try:
        wait_for(lambda: bool(pg_restores_of(proc.pid)) and bool(toc_files(s["home"])), what="pg_restore running")
        children = list(pg_restores_of(proc.pid))
        archive = toc_files(s["home"])[0]
        proc.kill()
        proc.wait()
        assert archive.exists(), "kill -9 leaves the archive's TOC"
        done = run_cli(s["home"], "backup", "list", "--json")  # any command's start sweeps
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)
        assert not archive.exists()
        assert not archive.parent.exists()
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for db in scratch_databases(s):  # a killed restore's scratch copy is issue #15's business
            s["pg"].dropdb(db)
