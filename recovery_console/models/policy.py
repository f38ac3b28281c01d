"""Plain data for a profile's backup policy: when it runs, what it keeps, where it copies, what it needs.

The policy is an optional field of the profile (models/profile.py) and so lives in profiles.json: it is
settings, changed by the same audited profile calls, removed with the profile, and a profile file
without it (an older release's) still reads. What happened (the runs) is state, kept apart in
engine/state/run_history.py.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from recovery_console.errors import UsageError
from recovery_console.models import json_fields
from recovery_console.models.retention import RetentionRules

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_MIN_FREE_MB = 500
DEFAULT_RPO_HOURS = 26
MB = 1000 * 1000


class Frequency(StrEnum):
    NEVER = "never"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True)
class Schedule:
    """When scheduled runs fall, as wall-clock time in `timezone` (an IANA name, UTC by default).

    Hourly uses `minute` only; weekly adds `weekday` (0 = Monday); monthly adds `day` (1–31; a month
    without that day has no run, as with systemd and cron).
    """

    frequency: Frequency = Frequency.NEVER
    hour: int = 0
    minute: int = 0
    weekday: int = 0
    day: int = 1
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not 0 <= self.hour <= 23 or not 0 <= self.minute <= 59:
            raise UsageError(f"{self.hour:02d}:{self.minute:02d} is not a time of day.",
                             hint="Give the time as HH:MM, from 00:00 to 23:59.")
        if not 0 <= self.weekday <= 6:
            raise UsageError(f"Weekday {self.weekday} does not exist.", hint="Give a weekday from Monday to Sunday.")
        if not 1 <= self.day <= 31:
            raise UsageError(f"Day {self.day} of the month does not exist.", hint="Give a day from 1 to 31.")
        zone(self.timezone)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zone(self.timezone)

    def describe(self) -> str:
        """'Daily at 02:00 UTC', 'Hourly at minute 15 UTC', 'Never'."""
        clock = f"{self.hour:02d}:{self.minute:02d} {self.timezone}"
        match self.frequency:
            case Frequency.NEVER:
                return "Never"
            case Frequency.HOURLY:
                return f"Hourly at minute {self.minute:02d} {self.timezone}"
            case Frequency.DAILY:
                return f"Daily at {clock}"
            case Frequency.WEEKLY:
                return f"Weekly on {WEEKDAYS[self.weekday].capitalize()} at {clock}"
        return f"Monthly on day {self.day} at {clock}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"frequency": self.frequency.value, "timezone": self.timezone}
        if self.frequency is not Frequency.NEVER:
            data["minute"] = self.minute
        if self.frequency in (Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY):
            data["hour"] = self.hour
        if self.frequency is Frequency.WEEKLY:
            data["weekday"] = WEEKDAYS[self.weekday]
        if self.frequency is Frequency.MONTHLY:
            data["day"] = self.day
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        frequency = json_fields.optional_text(data, "frequency") or Frequency.NEVER.value
        if frequency not in tuple(Frequency):
            raise ValueError(f"'frequency' must be one of {', '.join(Frequency)}, not {frequency!r}")
        weekday = json_fields.optional_text(data, "weekday") or WEEKDAYS[0]
        if weekday not in WEEKDAYS:
            raise ValueError(f"'weekday' must be one of {', '.join(WEEKDAYS)}, not {weekday!r}")
        try:
            return cls(Frequency(frequency), hour=json_fields.optional_count(data, "hour") or 0,
                       minute=json_fields.optional_count(data, "minute") or 0, weekday=WEEKDAYS.index(weekday),
                       day=json_fields.optional_count(data, "day") or 1,
                       timezone=json_fields.optional_text(data, "timezone") or "UTC")
        except UsageError as exc:
            raise ValueError(exc.message) from None


@dataclass(frozen=True)
class Policy:
    """A profile's policy. `since` (UTC, ISO) is when it was last saved: slots before it are not 'missed'."""

    enabled: bool = True
    schedule: Schedule = field(default_factory=Schedule)
    retention: RetentionRules = field(default_factory=RetentionRules)
    min_free_mb: int = DEFAULT_MIN_FREE_MB
    secondary_targets: tuple[str, ...] = ()
    rpo_hours: int = DEFAULT_RPO_HOURS
    since: str | None = None

    def __post_init__(self) -> None:
        if self.min_free_mb < 0:
            raise UsageError("The minimum free space cannot be negative.", hint="Give it in MB or GB, e.g. 500MB.")
        if self.rpo_hours < 1:
            raise UsageError("The recovery-point objective must be at least 1 hour.", hint="E.g. 26h or 2d.")
        if len(set(self.secondary_targets)) != len(self.secondary_targets):
            raise UsageError("A secondary target is named twice.", hint="Name each target to copy to once.")

    @property
    def min_free_bytes(self) -> int:
        return self.min_free_mb * MB

    @property
    def scheduled(self) -> bool:
        return self.enabled and self.schedule.frequency is not Frequency.NEVER

    def summary(self) -> str:
        """'Daily at 02:00 UTC · keep 14 daily, 8 weekly · copy to offsite-s3 · min 500 MB free'."""
        when = self.schedule.describe()
        parts = [when if self.enabled else f"Paused ({when[0].lower()}{when[1:]})", self.retention.summary()]
        if self.secondary_targets:
            parts.append("copy to " + ", ".join(self.secondary_targets))
        parts.append(f"min {format_mb(self.min_free_mb)} free")
        return " · ".join(parts)

    def with_changes(self, **changes: Any) -> Policy:
        """This policy with the given fields replaced (None values leave a field as it is)."""
        return replace(self, **{name: value for name, value in changes.items() if value is not None})

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "schedule": self.schedule.to_dict(), "retention": self.retention.to_dict(),
                "min_free_mb": self.min_free_mb, "secondary_targets": list(self.secondary_targets),
                "rpo_hours": self.rpo_hours, "since": self.since}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """The policy as profiles.json holds it; a mistyped field raises ValueError naming it."""
        min_free = json_fields.optional_count(data, "min_free_mb")
        rpo = json_fields.optional_count(data, "rpo_hours")
        try:
            return cls(enabled=json_fields.flag(data, "enabled") if "enabled" in data else True,
                       schedule=Schedule.from_dict(json_fields.mapping(data, "schedule")),
                       retention=RetentionRules.from_dict(json_fields.mapping(data, "retention")),
                       min_free_mb=DEFAULT_MIN_FREE_MB if min_free is None else min_free,
                       secondary_targets=tuple(json_fields.texts(data, "secondary_targets")),
                       rpo_hours=DEFAULT_RPO_HOURS if rpo is None else rpo,
                       since=json_fields.optional_text(data, "since"))
        except UsageError as exc:
            raise ValueError(exc.message) from None


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone `name`, or a plain error naming it."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"Unknown time zone '{name}'.",
                         hint="Give an IANA time zone name such as UTC, Europe/Berlin or America/New_York.") from None


def format_mb(mb: float) -> str:
    """500 → '500 MB'; 2000 → '2 GB' (decimal units, as disks are sold)."""
    if mb >= 1000 and mb % 100 == 0:
        return f"{mb / 1000:g} GB"
    return f"{mb:.0f} MB"


def parse_clock(text: str) -> tuple[int, int]:
    """'02:00' → (2, 0); for an hourly schedule ':15' or '15' → (0, 15)."""
    match = re.fullmatch(r"\s*(?:(\d{1,2})?:)?(\d{1,2})\s*", text)
    if not match:
        raise UsageError(f"'{text}' is not a time.",
                         hint="Give HH:MM (e.g. 02:00), or the minute for hourly (e.g. 15).")
    hour, minute = int(match[1] or 0), int(match[2])
    if hour > 23 or minute > 59:
        raise UsageError(f"'{text}' is not a time of day.", hint="Give HH:MM, from 00:00 to 23:59.")
    return hour, minute


def parse_weekday(text: str) -> int:
    """'mon', 'Monday' → 0."""
    word = text.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return index
    raise UsageError(f"'{text}' is not a weekday.", hint="Give Monday … Sunday (or mon … sun).")


def parse_size_mb(text: str) -> int:
    """'500MB', '2 GB', '500' (MB) → whole MB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(MB|GB|TB|M|G|T)?\s*", text, re.IGNORECASE)
    if not match:
        raise UsageError(f"'{text}' is not a size.", hint="Give it in MB or GB, e.g. 500MB or 2GB.")
    factor = {"": 1, "M": 1, "MB": 1, "G": 1000, "GB": 1000, "T": 10**6, "TB": 10**6}[(match[2] or "").upper()]
    return round(float(match[1]) * factor)


def parse_hours(text: str) -> int:
    """'26h', '26', '2d' → hours."""
    match = re.fullmatch(r"\s*(\d+)\s*([hd]?)\s*", text, re.IGNORECASE)
    if not match:
        raise UsageError(f"'{text}' is not a duration.", hint="Give hours or days, e.g. 26h or 2d.")
    return int(match[1]) * (24 if match[2].lower() == "d" else 1)


def edited(policy: Policy, *, frequency: str | None = None, at: str | None = None, weekday: str | None = None,
           day: int | None = None, timezone: str | None = None, retention: dict[str, int | None] | None = None,
           min_free: str | None = None, copy_to: list[str] | None = None, rpo: str | None = None,
           enabled: bool | None = None) -> Policy:
    """`policy` with the fields given as a user typed them replaced (None keeps a field): the one parser of
    `profile set-policy`'s options. `retention` replaces the rules whole when given ({} keeps everything)."""
    schedule = policy.schedule
    if frequency is not None and frequency not in tuple(Frequency):
        raise UsageError(f"Unknown schedule '{frequency}'.", hint=f"Choose one of {', '.join(Frequency)}.")
    hour, minute = parse_clock(at) if at is not None else (schedule.hour, schedule.minute)
    schedule = Schedule(Frequency(frequency) if frequency else schedule.frequency, hour=hour, minute=minute,
                        weekday=parse_weekday(weekday) if weekday is not None else schedule.weekday,
                        day=schedule.day if day is None else day,
                        timezone=schedule.timezone if timezone is None else timezone.strip())
    rules = policy.retention
    if retention is not None:
        try:
            rules = RetentionRules(**retention)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"Invalid retention rule: {exc}.", hint="Give whole numbers of at least 1.") from None
    return policy.with_changes(
        enabled=enabled, schedule=schedule, retention=rules,
        min_free_mb=parse_size_mb(min_free) if min_free is not None else None,
        secondary_targets=tuple(t.strip() for t in copy_to if t.strip()) if copy_to is not None else None,
        rpo_hours=parse_hours(rpo) if rpo is not None else None)
