"""Scheduled and "Run now" backups of a profile with members (#18) against real PostgreSQL 15 and 17 and a vault
folder: run-due makes the recovery set under the lock of every database in it, verifies it from the target and
records the run with the set's id; a member's database locked by another process makes the run busy, with nothing
written. What the run does after its verify (copies, prune) is in test_set_follow_ups.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recovery_console.engine.container.naming import parse_created_at
from recovery_console.engine.health import health
from recovery_console.engine.progress import Phase, Progress, Reporter
from recovery_console.engine.run_due import run_due, run_now
from recovery_console.engine.sets.set_catalog import COMPLETE
from recovery_console.engine.sets.set_listing import list_sets
from recovery_console.engine.state.locks import database_identity, lock_file, read_holder
from recovery_console.engine.state.run_history import RunHistory
from recovery_console.errors import ExitCode
from recovery_console.models.policy import Frequency, Policy, Schedule
from tests.fixtures.console import SECRET
from tests.integration.test_recovery_sets import set_profile  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DAY0 = datetime(2026, 12, 1, tzinfo=UTC)
NIGHTLY = Policy(schedule=Schedule(Frequency.DAILY, hour=2, minute=0, timezone="UTC"), min_free_mb=1)


def _at(day: int, hour: int) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour)


def test_run_due_backs_a_set_profile_up_as_one_verified_set_once_per_slot(console, set_profile, pg15,  # noqa: F811
                                                                         pg17):
    console.profiles.set_policy("records", NIGHTLY, now=DAY0.isoformat().replace("+00:00", "Z"))
    assert [o.result for o in run_due(console, now=_at(0, 1), secret=SECRET)] == ["not due"]
    locks = [lock_file(console.paths, database_identity(pg.dsn(set_profile[name])))
             for pg, name in ((pg15, "config"), (pg15, "results"), (pg17, "remote"))]
    held_while_verifying = set()

    def seen(progress: Progress) -> None:
        if progress.phase == Phase.VERIFY:
            held_while_verifying.update((read_holder(lock).action, read_holder(lock).pid) for lock in locks)

    outcome = run_due(console, now=_at(1, 3), secret=SECRET, reporter=Reporter(sink=seen, min_interval=0))[0]
    assert (outcome.result, outcome.exit_code, outcome.reason) == ("ok", ExitCode.OK, ""), outcome.reason
    assert held_while_verifying == {("backup", os.getpid())}  # every database's lock, through the verify too
    sets, _ = list_sets(console)
    assert len(sets) == 1 and sets[0].state == COMPLETE and sets[0].verify_result == "ok"  # verified from the target
    made = sets[0]
    assert made.manifest.mode == "scheduled" and [m.name for m in made.manifest.members] == [
        "main", "results", "remote", "vault"]
    assert outcome.record.set_id == made.set_id and outcome.record.backup_id is None
    assert outcome.record.bytes == made.size > 0 and outcome.record.slot == "2026-12-02T02:00:00Z"
    runs = RunHistory(console.paths).records("records")
    assert [(r.trigger, r.result, r.set_id) for r in runs] == [("scheduled", "ok", made.set_id)]
    actions = [e.action for e in console.audit.entries()]
    assert actions[-2:] == ["backup.create-set", "backup.verify-set"]
    assert [o.result for o in run_due(console, now=_at(1, 4), secret=SECRET)] == ["not due"]  # the slot is served
    shown = next(h for h in health(console) if h.profile == "records")
    assert shown.verified_at == parse_created_at(made.manifest.created_at)  # the verified set counts for its RPO

    by_hand = run_now(console, "records", secret=SECRET)  # the window's "Run now"
    assert by_hand.result == "ok" and by_hand.record.trigger == "manual"
    assert len(list_sets(console)[0]) == 2


def test_a_member_database_locked_by_another_process_makes_the_set_run_busy_and_nothing_is_written(
        console, set_profile, pg17, tmp_path):  # noqa: F811
    console.profiles.set_policy("records", NIGHTLY, now=DAY0.isoformat().replace("+00:00", "Z"))
    identity = database_identity(pg17.dsn(set_profile["remote"]))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from recovery_console.engine.state.locks import database_lock
        from recovery_console.engine.state.paths import AppPaths
        paths = AppPaths(config_dir=Path({str(tmp_path / 'config')!r}), data_dir=Path({str(tmp_path / 'data')!r}))
        with database_lock(paths, {identity!r}, "restore", "remote"):
            print("held", flush=True)
            time.sleep(300)
        """)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        outcome = run_due(console, now=_at(1, 3), secret=SECRET)[0]
        assert (outcome.result, outcome.exit_code) == ("busy", ExitCode.BUSY)
        assert outcome.reason.startswith("busy: restore of remote started") and \
            f"by pid {holder.pid}" in outcome.reason, outcome.reason
        assert not (tmp_path / "target" / "sets").exists() or list((tmp_path / "target" / "sets").rglob("*")) == []
    finally:
        holder.kill()
        holder.wait()
    assert [(r.result, r.set_id) for r in RunHistory(console.paths).records("records")] == [("busy", None)]
    again = run_due(console, now=_at(1, 3), secret=SECRET)[0]  # a busy run served no slot: the next one makes it
    assert again.result == "ok", again.reason
