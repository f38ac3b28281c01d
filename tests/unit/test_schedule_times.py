"""Next-run computation (engine/schedule_times.py), checked against systemd's own calendar: the timer the
console installs must elapse exactly when the console itself says the next run is."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from recovery_console.engine.os_schedule import texts
from recovery_console.engine.schedule_times import calendar_expression, latest_slot, next_run
from recovery_console.models.policy import Frequency, Schedule

systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                     reason="systemd-analyze is not installed (.ci/install.d/70-systemd.sh)")

BERLIN_SPRING = datetime(2026, 3, 28, 12, tzinfo=UTC)  # clocks go 02:00 → 03:00 on Sunday 29 March
BERLIN_AUTUMN = datetime(2026, 10, 24, 12, tzinfo=UTC)  # clocks go 03:00 → 02:00 on Sunday 25 October
NEW_YORK_AUTUMN = datetime(2026, 10, 31, 12, tzinfo=UTC)  # 02:00 → 01:00 on Sunday 1 November

BERLIN = "Europe/Berlin"
CASES = [
    (Schedule(Frequency.DAILY, hour=2, minute=30, timezone="Europe/Berlin"), BERLIN_SPRING, 6),
    (Schedule(Frequency.DAILY, hour=2, minute=30, timezone="Europe/Berlin"), BERLIN_AUTUMN, 6),
    (Schedule(Frequency.HOURLY, minute=30, timezone="Europe/Berlin"), BERLIN_SPRING, 30),
    (Schedule(Frequency.HOURLY, minute=30, timezone="Europe/Berlin"), BERLIN_AUTUMN, 30),
    (Schedule(Frequency.WEEKLY, hour=2, minute=15, weekday=6, timezone=BERLIN), BERLIN_SPRING - timedelta(days=8), 4),
    (Schedule(Frequency.WEEKLY, hour=2, minute=15, weekday=6, timezone=BERLIN), BERLIN_AUTUMN - timedelta(days=8), 4),
    (Schedule(Frequency.DAILY, hour=1, minute=30, timezone="America/New_York"), NEW_YORK_AUTUMN, 5),
    (Schedule(Frequency.MONTHLY, hour=0, minute=0, day=31, timezone="UTC"), datetime(2026, 1, 5, tzinfo=UTC), 8),
    (Schedule(Frequency.MONTHLY, hour=12, minute=0, day=29, timezone="Asia/Tokyo"),
     datetime(2027, 12, 1, tzinfo=UTC), 5),
    (Schedule(Frequency.HOURLY, minute=0, timezone="Asia/Kolkata"), datetime(2026, 12, 6, 20, 10, tzinfo=UTC), 5),
    (Schedule(Frequency.DAILY, hour=2, minute=15, timezone="Australia/Lord_Howe"),  # a 30-minute DST shift
     datetime(2026, 10, 1, tzinfo=UTC), 6),
    (Schedule(Frequency.DAILY, hour=0, minute=0, timezone="UTC"), datetime(2026, 12, 31, 23, 59, tzinfo=UTC), 3),
]


def _ours(schedule: Schedule, base: datetime, count: int) -> list[datetime]:
    found, moment = [], base
    for _ in range(count):
        moment = next_run(schedule, moment)
        found.append(moment)
    return found


def _systemd(expression: str, base: datetime, count: int) -> list[datetime]:
    done = subprocess.run(["systemd-analyze", "calendar", f"--iterations={count}",
                           f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", expression],
                          capture_output=True, text=True, check=True, env={**os.environ, "TZ": "UTC"})
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", done.stdout)
    return [datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for s in stamps]


@systemd_analyze
@pytest.mark.parametrize(("schedule", "base", "count"), CASES,
                         ids=[f"{s.describe()}-from-{b:%Y-%m-%d}" for s, b, _ in CASES])
def test_next_runs_equal_systemds_next_elapses(schedule, base, count):
    expression = calendar_expression(schedule)
    assert _ours(schedule, base, count) == _systemd(expression, base, count)


def test_a_wall_time_the_spring_change_skips_has_no_run_and_a_repeated_one_runs_once():
    daily = Schedule(Frequency.DAILY, hour=2, minute=30, timezone="Europe/Berlin")
    spring = _ours(daily, BERLIN_SPRING, 2)
    # no run on the 29th, when 02:30 does not exist
    assert spring == [datetime(2026, 3, 30, 0, 30, tzinfo=UTC), datetime(2026, 3, 31, 0, 30, tzinfo=UTC)]
    autumn = _ours(daily, BERLIN_AUTUMN, 2)
    assert autumn == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]


def test_latest_slot_is_the_last_run_at_or_before_now_and_never_has_none():
    daily = Schedule(Frequency.DAILY, hour=2, minute=0)
    assert latest_slot(daily, datetime(2026, 12, 7, 2, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert latest_slot(daily, datetime(2026, 12, 7, 1, 59, tzinfo=UTC)) == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    monthly = Schedule(Frequency.MONTHLY, hour=0, minute=0, day=31)
    assert latest_slot(monthly, datetime(2026, 12, 7, tzinfo=UTC)) == datetime(2026, 10, 31, tzinfo=UTC)
    never = Schedule()
    assert latest_slot(never, datetime(2026, 12, 7, tzinfo=UTC)) is None and next_run(never, BERLIN_SPRING) is None
    assert calendar_expression(never) is None


@systemd_analyze
@pytest.mark.parametrize("profile", ["prod", "my db/eu %1 $HOME \"x\""])
def test_generated_units_pass_systemd_analyze_verify(tmp_path, profile):
    schedule = Schedule(Frequency.WEEKLY, hour=3, minute=0, weekday=1, timezone="Europe/Berlin")
    name = texts.unit_name(profile)
    command = texts.run_due_command(profile)
    service = texts.systemd_service(profile, command, {"RECOVERY_CONSOLE_HOME": "/x y"})
    (tmp_path / f"{name}.service").write_text(service)
    (tmp_path / f"{name}.timer").write_text(texts.systemd_timer(profile, schedule))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / f"{name}.timer"),
                           str(tmp_path / f"{name}.service")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
