"""#16's acceptance against a real PostgreSQL, a local primary, an S3 secondary (rclone serve s3) and an SFTP
secondary (sshd): a policy stepped through 40 simulated days leaves, on each target, exactly the backups that
the table below (computed by hand, not by the planner) says; a run killed mid-copy is completed by the next.

The clock is injected into `run_due` only (the CLI has no such flag): each run, its backup's name and its
created_at read it, so the backups are dated on the simulated days.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.container.naming import is_backup_key, parse_backup_key
from recovery_console.engine.pinning import pin
from recovery_console.engine.prune import plan
from recovery_console.engine.run_due import run_due
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.run_history import RunHistory
from recovery_console.models.policy import Frequency, Policy, Schedule
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.retention import RetentionRules
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

FIRST = date(2026, 11, 20)  # a Friday in ISO week 2026-W47; the 40 days end on Tuesday 2026-12-29 (2026-W53)
OFF = {FIRST + timedelta(days=d) for d in range(40)
       if date(2026, 11, 25) <= FIRST + timedelta(days=d) <= date(2026, 12, 6)
       or date(2026, 12, 15) <= FIRST + timedelta(days=d) <= date(2026, 12, 22)}  # the machine is off
BACK = date(2026, 12, 7)  # the machine comes back at 01:00, before that day's 02:00 slot: the missed run, once
POLICY = Policy(schedule=Schedule(Frequency.DAILY, hour=2, minute=0),
                retention=RetentionRules(keep_last=3, keep_daily=5, keep_weekly=3, keep_monthly=2),
                secondary_targets=("offsite-s3", "offsite-sftp"), min_free_mb=1)

# Worked out by hand. The backups made (run-due at 03:00 each day the machine is on, plus 01:00 on Dec 7):
#   Nov 20 21 22 (W47) · Nov 23 24 (W48) · [off Nov 25 – Dec 6: W48, W49] · Dec 7 01:00, Dec 7 03:00 … Dec 13 (W50)
#   · Dec 14 (W51) · [off Dec 15 – 22] · Dec 23 … 27 (W52) · Dec 28 29 (W53)
# keep last 3:     Dec 29, Dec 28, Dec 27
# keep 5 daily:    Dec 29, 28, 27, 26, 25            (the newest of each of the 5 newest days that have one)
# keep 3 weekly:   W53 → Dec 29, W52 → Dec 27, W51 → Dec 14  (W49 had no backup and does not count)
# keep 2 monthly:  2026-12 → Dec 29, 2026-11 → Nov 24
# pinned on the primary only (after the Nov 24 run): Nov 21
KEPT_EVERYWHERE = ["2026-11-24 03:00", "2026-12-14 03:00", "2026-12-25 03:00", "2026-12-26 03:00",
                   "2026-12-27 03:00", "2026-12-28 03:00", "2026-12-29 03:00"]
KEPT = {"vault": sorted([*KEPT_EVERYWHERE, "2026-11-21 03:00"]),
        "offsite-s3": KEPT_EVERYWHERE, "offsite-sftp": KEPT_EVERYWHERE}
REASONS = {  # the final plan's lines on the primary, newest first, as `backup prune --dry-run` prints them
    "2026-12-29 03:00": "keep (newest fully verified, last 3, daily 2026-12-29, weekly 2026-W53, monthly 2026-12)",
    "2026-12-28 03:00": "keep (last 3, daily 2026-12-28)",
    "2026-12-27 03:00": "keep (last 3, daily 2026-12-27, weekly 2026-W52)",
    "2026-12-26 03:00": "keep (daily 2026-12-26)",
    "2026-12-25 03:00": "keep (daily 2026-12-25)",
    "2026-12-14 03:00": "keep (weekly 2026-W51)",
    "2026-11-24 03:00": "keep (monthly 2026-11)",
    "2026-11-21 03:00": "keep (pinned: INC-4711 evidence)",
}


@pytest.fixture
def app(secret_service, rclone_s3, sftp_server, sftp_users, sftp_dir, pg15, sample_database, tmp_path,
        monkeypatch) -> Iterator[Console]:
    """A console with the profile 'prod' of a small real database, backing up to 'vault' under POLICY."""
    home = tmp_path / "home"
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(home))
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "vault").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "vault")}))
    console.add_target(TargetConfig(name="offsite-s3", kind="s3", options=rclone_s3.target_options(
        rclone_s3.make_bucket())), {"secret_access_key": rclone_s3.secret_key})
    user = sftp_users.password_user
    console.add_target(TargetConfig(name="offsite-sftp", kind="sftp", options=sftp_server.options(user, sftp_dir)),
                       user.secrets())
    database = sample_database(pg15, f"forty_{uuid.uuid4().hex[:8]}")
    console.profiles.create("prod", pg15.dsn(database), target="vault")
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    console.profiles.set_policy("prod", POLICY, now="2026-11-19T12:00:00Z")
    with console:
        yield console


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _stamp(key: str) -> str:
    created = parse_backup_key(key).created
    assert created is not None, key
    return created.strftime("%Y-%m-%d %H:%M")


def _listed(console: Console, target: str) -> tuple[list[str], list[str]]:
    """What the target itself lists (not the catalog): its backups' creation minutes, and everything else."""
    keys = [info.key for info in console.storage(target).list("")]
    backups = [k for k in keys if is_backup_key(k)]
    return sorted(_stamp(k) for k in backups), sorted(set(keys) - set(backups) - {k + ".sha256" for k in backups})


def test_forty_days_of_a_policy_leave_the_hand_computed_backups_on_every_target(app):
    made = []
    for day in (FIRST + timedelta(days=d) for d in range(40)):
        if day in OFF:
            continue
        if day == BACK:
            made += run_due(app, now=_at(day, 1), secret=SECRET)
        made += run_due(app, now=_at(day, 3), secret=SECRET)
        assert run_due(app, now=_at(day, 3) + timedelta(minutes=30), secret=SECRET)[0].result == "not due"
        if day == date(2026, 11, 24):
            held = next(r for r in app.catalog.records(["vault"]) if _stamp(r.key) == "2026-11-21 03:00")
            pin(app, held.short_id, "INC-4711 evidence", target="vault")
    assert [(o.result, o.reason, o.exit_code) for o in made] == [("ok", "", 0)] * 21, [o.line() for o in made]
    slots = [o.record.slot for o in made if o.record is not None]
    assert slots[5:7] == ["2026-12-06T02:00:00Z", "2026-12-07T02:00:00Z"]  # twelve days off: one run made them up

    for target, expected in KEPT.items():
        backups, others = _listed(app, target)
        assert backups == expected, target
        assert others == [], target  # every backup with its sidecar, nothing partial or temporary

    (vault,) = plan(app, "prod", POLICY.retention, ["vault"])
    assert [(_stamp(line.record.key), line.text) for line in vault.lines] == list(REASONS.items())

    runs = RunHistory(app.paths).records("prod")
    assert [r.trigger for r in runs] == ["scheduled", "replication", "replication", "prune"] * 21
    assert {r.result for r in runs} == {"ok"}
    deletions = [e for e in app.audit.entries() if e.action == "backup.delete" and e.result == "ok"]
    assert len(deletions) == 3 * 21 - sum(len(v) for v in KEPT.values())
    assert all(e.detail["plan"] == "delete" and e.detail["rule"].startswith("not kept by: keep last 3")
               for e in deletions)


def test_backups_made_by_hand_keep_the_real_clock(app):
    """Only a policy run takes the injected clock; the default is the real one."""
    before = datetime.now(UTC).replace(microsecond=0)
    from recovery_console.engine.live_backup import backup_database

    record = backup_database(app, "prod", secret=SECRET)
    created = parse_backup_key(record.key).created
    assert created is not None and before <= created <= datetime.now(UTC)
    assert Path(app.targets.get("vault").options["path"], record.key).is_file()


def test_kill_9_during_a_scheduled_copy_leaves_nothing_listed_and_the_next_run_due_completes_it(
        app, rclone_s3, tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path / "home"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    history = RunHistory(app.paths)
    rclone_s3.pause()  # the S3 secondary hangs: the scheduled run is caught inside its copy there
    try:
        proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "run-due", "--profile", "prod",
                                 "--secret-key-file", str(secret_file)], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not any(r.trigger == "replication" and r.target == "offsite-s3" and r.pid == proc.pid
                      for r in history.records("prod")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        rclone_s3.resume()
    (made,) = [r for r in history.records("prod") if r.trigger == "scheduled"]
    assert made.result == "interrupted" and made.backup_id
    assert [r.result for r in history.records("prod") if r.trigger == "replication"] == ["interrupted"]
    for target in ("offsite-s3", "offsite-sftp"):
        assert list(app.storage(target).list("")) == [], target

    (again,) = run_due(app, "prod", secret=SECRET)  # its slot was not served: due at once
    assert (again.result, again.reason, again.exit_code) == ("ok", "", 0), again.line()
    both = sorted(app.locate(b, "vault").record.key for b in (made.backup_id, again.record.backup_id))
    for target in ("vault", "offsite-s3", "offsite-sftp"):
        keys = sorted(info.key for info in app.storage(target).list(""))
        assert keys == sorted([*both, *(k + ".sha256" for k in both)]), target
    copies = [(r.target, r.backup_id, r.result) for r in history.records("prod") if r.trigger == "replication"]
    assert copies[1:] == [("offsite-s3", again.record.backup_id, "ok"), ("offsite-s3", made.backup_id, "ok"),
                          ("offsite-sftp", again.record.backup_id, "ok"), ("offsite-sftp", made.backup_id, "ok")]
    (later,) = run_due(app, "prod", now=datetime.now(UTC) + timedelta(days=1), secret=SECRET)
    assert later.result == "ok"
    assert [r.backup_id for r in history.records("prod") if r.trigger == "replication"][-2:] == [
        later.record.backup_id] * 2  # done once: not copied again
