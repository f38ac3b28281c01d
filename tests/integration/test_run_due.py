"""#16 against a real PostgreSQL and local targets: a policy stepped through simulated days with an injected
clock, the free-space guard on a small tmpfs, and two `run-due` at once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recovery_console.engine.due import exit_code
from recovery_console.engine.health import health
from recovery_console.engine.run_due import run_due, run_now
from recovery_console.engine.state.locks import database_identity, lock_file, read_holder
from recovery_console.engine.state.run_history import RunHistory
from recovery_console.errors import ExitCode
from recovery_console.models.policy import Frequency, Policy, Schedule
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.retention import RetentionRules
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DAY0 = datetime(2026, 12, 1, tzinfo=UTC)  # Berlin is on CET (UTC+1) all through December


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")


def _profile(console, pg15, database, target, policy, since=DAY0):
    console.profiles.create("prod", pg15.dsn(database), target=target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    console.profiles.set_policy("prod", policy, now=since.isoformat().replace("+00:00", "Z"))


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute)


def test_a_policy_stepped_through_simulated_days_runs_each_slot_once_and_a_missed_run_once(
        console, local_target, pg15, database):
    nightly = Policy(schedule=Schedule(Frequency.DAILY, hour=2, minute=0, timezone="Europe/Berlin"), min_free_mb=1)
    _profile(console, pg15, database, local_target, nightly)
    calls = [  # (when run-due is called, what it should do); 02:00 Berlin is 01:00 UTC
        (_at(0, 0, 59), "not due"), (_at(1, 1), "ok"), (_at(1, 1, 30), "not due"), (_at(2, 1, 0), "ok"),
        # the machine is off on days 3, 4 and 5
        (_at(6, 9), "ok"), (_at(6, 10), "not due"), (_at(7, 0, 59), "not due"), (_at(7, 1), "ok"),
    ]
    results = [run_due(console, now=now, secret=SECRET)[0] for now, _ in calls]
    assert [r.result for r in results] == [expected for _, expected in calls]
    runs = RunHistory(console.paths).records("prod")
    assert [(r.trigger, r.result, r.slot) for r in runs] == [
        ("scheduled", "ok", f"2026-12-0{day}T01:00:00Z") for day in (2, 3, 7, 8)]
    assert all(r.target == "vault" and r.bytes > 0 and r.backup_id for r in runs)
    backups, _ = console.list_backups(["vault"])
    assert sorted(b.backup_id for b in backups) == sorted(r.backup_id for r in runs)
    assert {b.mode for b in backups} == {"scheduled"}
    assert sorted(b.created[:13] for b in backups) == [  # named and dated by the injected clock
        "2026-12-02T01", "2026-12-03T01", "2026-12-07T09", "2026-12-08T01"]

    manual = run_now(console, "prod", now=_at(7, 12), secret=SECRET)  # "Run now" serves no slot
    assert (manual.result, manual.record.trigger, manual.record.slot) == ("ok", "manual", None)
    assert run_due(console, now=_at(7, 12, 5), secret=SECRET)[0].result == "not due"

    state = {h.profile: h for h in health(console)}["prod"]  # every run verified its backup from the target
    assert state.status == "green" and state.last_success.trigger == "manual" and state.last_failure is None
    assert console.catalog.get("vault", console.locate(manual.record.backup_id).record.key).verify_result == "ok"

    console.profiles.create("adhoc", pg15.dsn(database), target=local_target)  # no policy: run by hand only
    console.profiles.set_mode("adhoc", ConnectionMode.DIRECT, acknowledge_direct=True)
    assert run_due(console, "adhoc", now=_at(7, 13), secret=SECRET)[0].result == "not due"
    assert run_now(console, "adhoc", secret=SECRET).result == "ok"


def test_each_run_verifies_copies_to_the_secondary_and_prunes_every_target(console, local_target, pg15, database,
                                                                          tmp_path):
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    console.add_target(TargetConfig(name="offsite", kind="local", options={"path": str(offsite)}))
    policy = Policy(schedule=Schedule(Frequency.DAILY, hour=1), retention=RetentionRules(keep_last=2),
                    secondary_targets=("offsite",), min_free_mb=1)
    _profile(console, pg15, database, local_target, policy)
    made = []
    for day in (1, 2, 3):  # each backup is named and dated by the run's (injected) clock
        made.append(run_due(console, now=_at(day, 2), secret=SECRET)[0])
    assert [o.result for o in made] == ["ok"] * 3 and exit_code(made) == 0
    newest_two = sorted(o.record.backup_id for o in made[1:])
    for target in ("vault", "offsite"):
        backups, _ = console.list_backups([target])
        assert sorted(b.backup_id for b in backups) == newest_two, target
    assert {b.verify_result for b in console.list_backups(["vault"])[0]} == {"ok"}
    steps = [(r.trigger, r.result) for r in RunHistory(console.paths).records("prod")]
    assert steps == [("scheduled", "ok"), ("replication", "ok"), ("prune", "ok")] * 3

    shutil.rmtree(offsite)  # the secondary is unusable: the backup still counts, the run says what failed, no prune
    offsite.write_text("a file where the target's folder was")
    broken = run_due(console, now=_at(4, 2), secret=SECRET)[0]
    assert broken.result == "ok" and exit_code([broken]) == ExitCode.PARTIAL
    assert "replication to offsite failed" in broken.reason and "not pruned" in broken.reason
    assert len(console.list_backups(["vault"])[0]) == 3

    offsite.unlink()  # the secondary is back (empty): the next run also makes the copy the last one could not
    offsite.mkdir()
    mended = run_due(console, now=_at(5, 2), secret=SECRET)[0]
    assert (mended.result, mended.reason, exit_code([mended])) == ("ok", "", 0)
    newest_two = sorted([broken.record.backup_id, mended.record.backup_id])
    for target in ("vault", "offsite"):
        assert sorted(b.backup_id for b in console.list_backups([target], sync=True)[0]) == newest_two, target


@contextlib.contextmanager
def _small_folder(path: Path, size_mb: int, monkeypatch):
    """A tmpfs of `size_mb` at `path` when this process may mount one; else the measurement alone says so."""
    path.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
        capture_output=True).returncode == 0
    if not mounted:
        real = shutil.disk_usage
        monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=size_mb * 1024 * 1024)
                            if Path(p).is_relative_to(path) else real(p))
    try:
        yield
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def test_a_target_below_the_minimum_is_skipped_with_the_reason_and_nothing_is_written(
        console, tmp_path, pg15, database, monkeypatch):
    small = tmp_path / "small"
    with _small_folder(small, 32, monkeypatch):
        console.add_target(TargetConfig(name="tiny", kind="local", options={"path": str(small)}))
        _profile(console, pg15, database, "tiny", Policy(schedule=Schedule(Frequency.HOURLY, minute=0)))
        outcomes = run_due(console, now=_at(1, 5), secret=SECRET)
        assert [o.result for o in outcomes] == ["skipped"]
        assert re.fullmatch(r"3[0-3] MB free < 500 MB minimum", outcomes[0].reason), outcomes[0].reason
        assert exit_code(outcomes) == ExitCode.NO_SPACE == 9
        assert list(small.rglob("*")) == []
        run = RunHistory(console.paths).records("prod")[-1]
        assert (run.result, run.reason, run.slot) == ("skipped", outcomes[0].reason, "2026-12-02T05:00:00Z")
        assert run_due(console, now=_at(1, 5, 30), secret=SECRET)[0].result == "not due"  # a skip serves its slot

        # room above the minimum, but not for the backup: the database's size is the first run's estimate
        console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.HOURLY, minute=0), min_free_mb=25),
                                    now=_at(1, 5, 40).isoformat())
        pg15.psql("CREATE TABLE filler AS SELECT repeat(md5(g::text), 40) AS t FROM generate_series(1, 30000) g",
                  db=database)
        second = run_due(console, now=_at(1, 6), secret=SECRET)[0]
        assert second.result == "skipped" and "would leave" in second.reason and "< 25 MB minimum" in second.reason
        assert list(small.rglob("*")) == []


def test_two_run_due_at_once_one_runs_the_other_is_busy_and_so_is_a_restore(console, local_target, pg15, database,
                                                                           tmp_path):
    hourly = Policy(schedule=Schedule(Frequency.HOURLY, minute=0), min_free_mb=1)
    _profile(console, pg15, database, local_target, hourly, since=datetime.now(UTC) - timedelta(days=1))
    earlier = run_now(console, "prod", secret=SECRET)  # a backup to restore; by hand, so the schedule is still due
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path)}  # the console fixture's config and data folders
    secret_args = ["--secret-key-file", str(secret_file)]
    argv = [sys.executable, "-m", "recovery_console.cli.main", "run-due", "--profile", "prod", "--json", *secret_args]
    first = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = lock_file(console.paths, database_identity(pg15.dsn(database)))
    deadline = time.monotonic() + 60
    while first.poll() is None and time.monotonic() < deadline:
        holder = read_holder(lock)
        if holder is not None and (holder.action, holder.pid) == ("backup", first.pid):
            first.send_signal(signal.SIGSTOP)  # the scheduled backup holds the lock, and keeps holding it
            break
        time.sleep(0.01)
    else:
        pytest.fail(f"the scheduled run never held the lock: {first.communicate(timeout=60)}")
    try:
        busy_text = rf"busy: backup of {database} started \d\d:\d\d:\d\d by pid {first.pid}\."
        second = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == ExitCode.BUSY == 12, second.stderr
        assert re.fullmatch(busy_text, json.loads(second.stdout)["runs"][0]["reason"])
        restore = subprocess.run([*argv[:3], "restore", "run", earlier.record.backup_id, "--profile", "prod", "--yes",
                                  *secret_args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert restore.returncode == ExitCode.BUSY, restore.stderr
        assert re.search(busy_text, restore.stderr), restore.stderr
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    history = RunHistory(console.paths)
    assert sorted(r.result for r in history.records("prod") if r.trigger == "scheduled") == ["busy", "ok"]
    assert json.loads(out)["runs"][0]["result"] == "ok"
    assert [e.result for e in console.audit.entries() if e.action == "restore"] == []  # refused before it began
