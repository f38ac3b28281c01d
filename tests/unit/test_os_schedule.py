"""The OS scheduler texts and installer (engine/os_schedule/), and which slot run-due serves (missed runs once)."""

from __future__ import annotations

import plistlib
from datetime import UTC, datetime, timedelta

import pytest

from recovery_console.engine.due import due_slot
from recovery_console.engine.os_schedule import texts
from recovery_console.engine.os_schedule.installer import UNIT_DIR_ENV, OsScheduler
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.engine.state.served_slots import ServedSlots
from recovery_console.errors import UsageError
from recovery_console.models.policy import Frequency, Policy, Schedule
from recovery_console.models.profile import Profile

COMMAND = ["/opt/rc/python", "-m", "recovery_console.cli.main", "run-due", "--profile", "prod"]
WEEKLY = Schedule(Frequency.WEEKLY, hour=2, minute=5, weekday=6)


def test_launchd_plist_runs_the_command_at_the_schedules_wall_clock():
    plist = plistlib.loads(texts.launchd_plist("prod", WEEKLY, COMMAND, {"RECOVERY_CONSOLE_HOME": "/srv/rc"}))
    assert plist["ProgramArguments"] == COMMAND and plist["Label"] == "io.recovery-console.run-due.prod"
    assert plist["StartCalendarInterval"] == {"Minute": 5, "Hour": 2, "Weekday": 0}  # Sunday is 0 for launchd
    assert plist["EnvironmentVariables"] == {"RECOVERY_CONSOLE_HOME": "/srv/rc"}
    hourly = plistlib.loads(texts.launchd_plist("prod", Schedule(Frequency.HOURLY, minute=45), COMMAND, {}))
    assert hourly["StartCalendarInterval"] == {"Minute": 45} and "EnvironmentVariables" not in hourly


@pytest.mark.parametrize(("schedule", "when"), [
    (Schedule(Frequency.HOURLY, minute=7), ["/SC", "HOURLY", "/ST", "00:07"]),
    (Schedule(Frequency.DAILY, hour=2), ["/SC", "DAILY", "/ST", "02:00"]),
    (WEEKLY, ["/SC", "WEEKLY", "/D", "SUN", "/ST", "02:05"]),
    (Schedule(Frequency.MONTHLY, hour=23, minute=59, day=31), ["/SC", "MONTHLY", "/D", "31", "/ST", "23:59"]),
])
def test_schtasks_command_for_each_frequency(schedule, when):
    command = texts.schtasks_create("prod", schedule, [r"C:\Program Files\RC\rc.exe", "run-due", "--profile", 'a"b'])
    assert command[:6] == ["schtasks", "/Create", "/F", "/TN", r"RecoveryConsole\run-due-prod", "/TR"]
    assert command[6] == r'"C:\Program Files\RC\rc.exe" "run-due" "--profile" "a""b"'
    assert command[7:] == when


def test_cron_line_quotes_the_command_and_escapes_percent():
    line = texts.cron_line(WEEKLY, ["/opt/rc/python", "run-due", "--profile", "it's 100%"])
    assert line == "5 2 * * 0 '/opt/rc/python' 'run-due' '--profile' 'it'\\''s 100\\%'"
    assert texts.cron_line(Schedule(Frequency.MONTHLY, hour=1, day=15), ["x"]).startswith("0 1 15 * * ")
    with pytest.raises(ValueError):
        texts.cron_line(Schedule(), ["x"])


def test_unit_names_escape_what_systemd_does_not_take():
    assert texts.unit_name("prod") == "recovery-console-run-due-prod"
    assert texts.unit_name("eu/db 1") == "recovery-console-run-due-eu-db\\x201"


def _profile(console, schedule=WEEKLY, **policy):
    console.profiles.create("prod", "postgresql://db.internal/app", target=None)
    console.profiles.set_policy("prod", Policy(schedule=schedule, **policy))


def test_systemd_install_writes_units_status_reads_them_back_and_uninstall_removes_them(console, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv(UNIT_DIR_ENV, str(tmp_path / "units"))
    _profile(console)
    scheduler = OsScheduler(console, platform="linux")
    assert scheduler.status("prod").installed is False
    done = scheduler.install("prod")
    assert done.scheduler == "systemd" and not done.activated
    timer = tmp_path / "units" / "recovery-console-run-due-prod.timer"
    assert "OnCalendar=Sun *-*-* 02:05:00 UTC\nPersistent=true\n" in timer.read_text()
    assert sorted(p.name for p in timer.parent.iterdir()) == ["recovery-console-run-due-prod.service",
                                                              "recovery-console-run-due-prod.timer"]
    now = datetime(2026, 12, 7, tzinfo=UTC)
    status = scheduler.status("prod", now)
    assert (status.installed, status.current, status.next_elapse) == (True, True,
                                                                      datetime(2026, 12, 13, 2, 5, tzinfo=UTC))
    console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.DAILY, hour=4)))
    assert scheduler.status("prod", now).current is False  # the timer still has the old calendar
    assert len(scheduler.uninstall("prod")) == 2 and not timer.exists()
    actions = [entry.action for entry in console.audit.entries()][-3:]
    assert actions == ["schedule.install", "profile.set-policy", "schedule.uninstall"]


def test_a_policy_without_a_schedule_is_not_installed_and_without_a_scheduler_a_cron_line_is_given(console):
    _profile(console, schedule=Schedule())
    with pytest.raises(UsageError, match="no schedule to install"):
        OsScheduler(console, platform="freebsd14").install("prod")
    console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.DAILY, hour=2)))
    done = OsScheduler(console, platform="freebsd14").install("prod")
    assert done.scheduler == "cron" and done.note.startswith("0 2 * * * '")
    assert done.note.endswith("'run-due' '--profile' 'prod'")


def test_launchd_refuses_a_policy_zone_other_than_the_machines(console, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    _profile(console, schedule=Schedule(Frequency.DAILY, hour=2, timezone="Europe/Berlin"))
    with pytest.raises(UsageError, match="this machine's time zone"):
        OsScheduler(console, platform="darwin").install("prod")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_missed_run_is_due_once_not_once_per_missed_slot():
    daily = Policy(schedule=Schedule(Frequency.DAILY, hour=2), since="2026-12-01T00:00:00Z")
    profile = Profile("prod", "postgresql://db/app", policy=daily)
    monday = datetime(2026, 12, 1, 2, tzinfo=UTC)
    back_on = monday + timedelta(days=4, hours=5)  # off from Monday's run until Friday 07:00
    slot = due_slot(profile, _iso(monday), back_on)
    assert slot == datetime(2026, 12, 5, 2, tzinfo=UTC)
    assert due_slot(profile, _iso(slot), back_on + timedelta(minutes=1)) is None
    assert due_slot(profile, _iso(slot), datetime(2026, 12, 6, 2, tzinfo=UTC)) == datetime(2026, 12, 6, 2, tzinfo=UTC)


def test_slots_before_the_policy_are_not_missed_and_a_paused_policy_is_never_due():
    daily = Policy(schedule=Schedule(Frequency.DAILY, hour=2), since="2026-12-05T10:00:00Z")
    profile = Profile("prod", "postgresql://db/app", policy=daily)
    assert due_slot(profile, None, datetime(2026, 12, 5, 23, tzinfo=UTC)) is None  # 02:00 came before the policy
    slot = datetime(2026, 12, 6, 2, tzinfo=UTC)
    assert due_slot(profile, None, slot) == slot
    paused = Profile("prod", "postgresql://db/app", policy=Policy(enabled=False, schedule=daily.schedule))
    assert due_slot(paused, None, slot) is None


def _ended(profile: str, slot: str, result: str) -> RunRecord:
    return RunRecord.start("scheduled", profile, "vault", slot, slot).finished(result, 1.0)


def test_served_slots_keep_the_latest_and_are_rebuilt_from_the_history_when_lost(tmp_path):
    paths = AppPaths(tmp_path / "config", tmp_path / "data")
    served = ServedSlots(paths)
    served.mark("prod", "2026-12-02T02:00:00Z")
    served.mark("prod", "2026-12-01T02:00:00Z")
    served.mark("test", "2026-12-01T03:00:00Z")
    assert served.load() == {"prod": "2026-12-02T02:00:00Z", "test": "2026-12-01T03:00:00Z"}
    history = RunHistory(paths)
    for record in (_ended("prod", "2026-12-03T02:00:00Z", "skipped"), _ended("prod", "2026-12-04T02:00:00Z", "busy"),
                   _ended("test", "2026-12-04T03:00:00Z", "failed")):
        history.append(record)
    served.file.unlink()
    assert served.load() == {"prod": "2026-12-03T02:00:00Z", "test": "2026-12-04T03:00:00Z"}  # busy serves none
    served.file.write_text("{torn")
    assert served.load()["prod"] == "2026-12-03T02:00:00Z"


def test_a_changed_schedule_starts_anew_and_other_changes_keep_its_start(console):
    console.profiles.create("prod", "postgresql://db.internal/app", target=None)
    daily = Schedule(Frequency.DAILY, hour=2)
    console.profiles.set_policy("prod", Policy(schedule=daily), now="2026-12-01T00:00:00Z")
    kept = console.profiles.set_policy("prod", Policy(schedule=daily, min_free_mb=900), now="2026-12-05T00:00:00Z")
    assert (kept.policy.since, kept.policy.min_free_mb) == ("2026-12-01T00:00:00Z", 900)
    moved = console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.DAILY, hour=3)),
                                        now="2026-12-06T00:00:00Z")
    assert moved.policy.since == "2026-12-06T00:00:00Z"
