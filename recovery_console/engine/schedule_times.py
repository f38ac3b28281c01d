"""When a schedule's runs fall: wall-clock slots in the policy's time zone, as UTC instants.

The rule is systemd's `OnCalendar=` with a time zone, so the console and the timer agree (tests compare
them with `systemd-analyze calendar`): a wall time that does not exist (the hour skipped when clocks go
forward) has no run; a wall time that occurs twice (clocks go back) runs at its first occurrence only;
a monthly day a month lacks has no run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from recovery_console.models.policy import Frequency, Schedule

_SEARCH_DAYS = 400  # a monthly day 31 recurs within 62 days; a year is plenty


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """The first slot strictly after `after` (an aware datetime), in UTC; None for `never`."""
    for slot in _slots(schedule, after, forward=True):
        if slot > after:
            return slot
    return None


def latest_slot(schedule: Schedule, at: datetime) -> datetime | None:
    """The last slot at or before `at`, in UTC; None for `never` or none within a year."""
    for slot in _slots(schedule, at, forward=False):
        if slot <= at:
            return slot
    return None


def _slots(schedule: Schedule, around: datetime, forward: bool) -> Iterator[datetime]:
    """Existing slots in UTC, walking day by day (and hour by hour for hourly) from the day of `around`."""
    if schedule.frequency is Frequency.NEVER:
        return
    tz = schedule.zone
    start = around.astimezone(tz).date() + timedelta(days=-1 if forward else 1)
    step = 1 if forward else -1
    for offset in range(_SEARCH_DAYS):
        day = start + timedelta(days=offset * step)
        if not _runs_on(schedule, day):
            continue
        hours = range(24) if schedule.frequency is Frequency.HOURLY else (schedule.hour,)
        for hour in hours if forward else reversed(hours):
            wall = datetime(day.year, day.month, day.day, hour, schedule.minute, tzinfo=tz)  # fold=0: first
            instant = wall.astimezone(UTC)
            if instant.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):  # else: skipped
                yield instant


def _runs_on(schedule: Schedule, day: date) -> bool:
    if schedule.frequency is Frequency.WEEKLY:
        return day.weekday() == schedule.weekday
    if schedule.frequency is Frequency.MONTHLY:
        return day.day == schedule.day
    return True


def calendar_expression(schedule: Schedule) -> str | None:
    """The systemd `OnCalendar=` value of the schedule, e.g. '*-*-* 02:00:00 Europe/Berlin'; None for never."""
    clock = f"{schedule.hour:02d}:{schedule.minute:02d}:00 {schedule.timezone}"
    match schedule.frequency:
        case Frequency.NEVER:
            return None
        case Frequency.HOURLY:
            return f"*-*-* *:{schedule.minute:02d}:00 {schedule.timezone}"
        case Frequency.DAILY:
            return f"*-*-* {clock}"
        case Frequency.WEEKLY:
            return f"{('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')[schedule.weekday]} *-*-* {clock}"
    return f"*-*-{schedule.day:02d} {clock}"
