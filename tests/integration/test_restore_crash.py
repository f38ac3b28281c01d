"""kill -9 of the console, and of pg_restore, at several points of a safe in-place restore:
nothing is lost every time. Before the swap the original stays in place untouched; after it the
original is kept whole under its pre-restore name and `restore rollback` puts it back."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.state import restore_journal
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import ExitCode
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, pg_server_factory, request):
    """A database with a backup of it, and a console home a subprocess can use."""
    from tests.fixtures.postgres import create_sample_database, table_fingerprints

    pg = pg_server_factory.new(15)
    request.addfinalizer(pg.remove)
    home = tmp_path_factory.mktemp("crash-home")
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    folder = home / "target"
    folder.mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    database = create_sample_database(pg, f"crash_{uuid.uuid4().hex[:8]}", scale=3)
    console.profiles.create("prod", pg.dsn(database), target="vault")
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = backup_database(console, "prod", secret=SECRET)
    pg.psql("INSERT INTO app.empty_log (message) VALUES ('the live data differs from the backup')", db=database)
    secret_file = home / "secret"
    secret_file.write_text(SECRET)
    s = dict(pg=pg, home=home, database=database, backup=record.short_id, secret_file=secret_file,
             before=table_fingerprints(pg, database), fingerprints=table_fingerprints)
    s["duration"] = time_a_whole_restore(s)
    return s


def time_a_whole_restore(s) -> float:
    """Seconds a restore with `--verify-first` takes on this machine, so kill moments can be spread over it."""
    started = time.monotonic()
    proc = start_restore(s, "--verify-first")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    duration = time.monotonic() - started
    rollback(s)
    assert_original_intact(s)
    return duration


def cli(s, *argv: str) -> subprocess.Popen:
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(s["home"])}
    return subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def start_restore(s, *extra: str) -> subprocess.Popen:
    return cli(s, "restore", "run", s["backup"], "--profile", "prod", "--yes",
               "--secret-key-file", str(s["secret_file"]), *extra)


def rollback(s) -> None:
    proc = cli(s, "restore", "rollback", "--profile", "prod", "--yes")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def wait_for(condition, timeout=60.0, step=0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError("condition not reached")


def scratch_exists(s) -> bool:
    return any("__restore_" in db for db in s["pg"].databases())


def kept_originals(s) -> set[str]:
    return {db for db in s["pg"].databases() if "__pre_restore_" in db}


def copying(s) -> bool:
    out = s["pg"].psql("SELECT count(*) FROM pg_stat_activity "
                       "WHERE query ILIKE 'COPY%' AND datname LIKE '%__restore_%'")
    return out.strip() not in ("", "0")


def pg_restore_pids(console_pid: int) -> list[int]:
    """pg_restore processes started by this console (never other tests' ones)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if cmd.endswith(b"pg_restore") and ppid == console_pid:
                pids.append(int(entry.name))
    return pids


def assert_original_intact(s) -> None:
    pg, database = s["pg"], s["database"]
    assert database in pg.databases()
    assert pg.psql("SELECT count(*) FROM app.empty_log", db=database).strip() == "1"
    assert s["fingerprints"](pg, database) == s["before"]


def assert_nothing_lost(s, kept_before: set[str]) -> None:
    """The original is in place; or the kill came after the swap, the original is kept whole under a new
    pre-restore name, and a rollback brings it back."""
    kept = kept_originals(s) - kept_before
    if kept:
        assert len(kept) == 1
        assert s["fingerprints"](s["pg"], kept.pop()) == s["before"]
        rollback(s)
    assert_original_intact(s)


def kill_console(s, proc: subprocess.Popen) -> None:
    """kill -9 the console, then its orphaned pg_restore (as an operator's reboot would); then wait until the
    server has ended their sessions, so that a swap committing as the console died cannot change the
    databases under the checks that follow."""
    orphans = pg_restore_pids(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for pid in orphans:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own since it was listed
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: s["pg"].psql("SELECT count(*) FROM pg_stat_activity WHERE application_name IN "
                                  "('recovery-console', 'pg_restore')").strip() == "0")


@pytest.mark.parametrize("point", ["scratch created", "while pg_restore copies rows", "swapped"])
def test_kill_console(scenario, point):
    kept_before = kept_originals(scenario)
    proc = start_restore(scenario)
    if point == "scratch created":
        wait_for(lambda: scratch_exists(scenario))
    elif point == "while pg_restore copies rows":
        wait_for(lambda: copying(scenario))
    else:
        wait_for(lambda: kept_originals(scenario) - kept_before)
    kill_console(scenario, proc)
    assert_nothing_lost(scenario, kept_before)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1.1])
def test_kill_console_at_arbitrary_moments(scenario, fraction):
    """Moments spread over a whole restore as timed on this machine, from pre-flight's verify to after the swap."""
    kept_before = kept_originals(scenario)
    proc = start_restore(scenario, "--verify-first")
    time.sleep(fraction * scenario["duration"])
    kill_console(scenario, proc)
    assert proc.returncode in (0, -signal.SIGKILL)
    assert_nothing_lost(scenario, kept_before)


def test_kill_pg_restore(scenario):
    scratch_before = {db for db in scenario["pg"].databases() if "__restore_" in db}
    proc = start_restore(scenario)
    wait_for(lambda: copying(scenario) and pg_restore_pids(proc.pid))
    for pid in pg_restore_pids(proc.pid):
        os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.DATABASE, err
    assert b"pg_restore failed" in err and b"Traceback" not in err
    assert_original_intact(scenario)
    # Its own scratch copy was dropped (and, as it started, any an earlier killed restore's journal recorded).
    assert {db for db in scenario["pg"].databases() if "__restore_" in db} <= scratch_before


def test_a_restore_after_the_crashes_still_succeeds(scenario):
    proc = start_restore(scenario)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    pg, database = scenario["pg"], scenario["database"]
    # What the killed restores made is in their journals, dropped when the next restore or rollback starts; a
    # scratch copy whose creation was never confirmed is only named, by the pre-flight.
    home = scenario["home"]
    assert restore_journal.pending(AppPaths(config_dir=home / "config", data_dir=home / "data")) == []
    assert all(db.encode() in err for db in pg.databases() if "__restore_" in db)
    assert pg.psql("SELECT count(*) FROM app.empty_log", db=database).strip() == "0"
