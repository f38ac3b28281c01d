"""The per-profile policy of #16: fields, validation, the one-line summary, and its place in profiles.json."""

from __future__ import annotations

import json

import pytest

from recovery_console.errors import UsageError
from recovery_console.models.policy import Frequency, Policy, Schedule, edited, parse_clock, parse_hours, parse_size_mb
from recovery_console.models.profile import Profile
from recovery_console.models.retention import RetentionRules


def test_the_summary_reads_as_the_issue_writes_it():
    policy = Policy(schedule=Schedule(Frequency.DAILY, hour=2, minute=0),
                    retention=RetentionRules(keep_daily=14, keep_weekly=8), secondary_targets=("offsite-s3",))
    assert policy.summary() == "Daily at 02:00 UTC · keep 14 daily, 8 weekly · copy to offsite-s3 · min 500 MB free"


@pytest.mark.parametrize(("schedule", "text"), [
    (Schedule(), "Never"),
    (Schedule(Frequency.HOURLY, minute=15, timezone="Europe/Berlin"), "Hourly at minute 15 Europe/Berlin"),
    (Schedule(Frequency.WEEKLY, hour=23, minute=5, weekday=6), "Weekly on Sunday at 23:05 UTC"),
    (Schedule(Frequency.MONTHLY, hour=3, minute=30, day=31, timezone="America/New_York"),
     "Monthly on day 31 at 03:30 America/New_York"),
])
def test_every_schedule_shows_its_time_zone(schedule, text):
    assert schedule.describe() == text


def test_a_paused_policy_says_so_and_sizes_read_in_decimal_units():
    policy = Policy(enabled=False, schedule=Schedule(Frequency.DAILY, hour=1), min_free_mb=2000)
    assert policy.summary() == "Paused (daily at 01:00 UTC) · keep everything · min 2 GB free"
    assert not policy.scheduled and policy.min_free_bytes == 2_000_000_000


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Schedule(Frequency.DAILY, hour=24), "is not a time of day"),
    (lambda: Schedule(Frequency.MONTHLY, day=32), "Day 32 of the month does not exist"),
    (lambda: Schedule(timezone="Mars/Olympus"), "Unknown time zone 'Mars/Olympus'"),
    (lambda: Policy(rpo_hours=0), "at least 1 hour"),
    (lambda: Policy(min_free_mb=-1), "cannot be negative"),
    (lambda: Policy(secondary_targets=("a", "a")), "named twice"),
    (lambda: parse_clock("2 pm"), "is not a time"),
    (lambda: parse_size_mb("lots"), "is not a size"),
    (lambda: parse_hours("a day"), "is not a duration"),
    (lambda: edited(Policy(), retention={"keep_last": -2}), "Invalid retention rule"),
    (lambda: edited(Policy(), frequency="fortnightly"), "Unknown schedule"),
])
def test_invalid_input_is_a_plain_usage_error(make, message):
    with pytest.raises(UsageError, match=message) as caught:
        make()
    assert caught.value.hint


def test_edited_parses_what_a_user_types_and_keeps_what_is_not_given():
    policy = edited(Policy(), frequency="weekly", at="04:30", weekday="fri", timezone="Asia/Kolkata",
                    retention={"keep_last": 7}, min_free="1.5GB", copy_to=["offsite"], rpo="2d")
    assert policy.schedule == Schedule(Frequency.WEEKLY, hour=4, minute=30, weekday=4, timezone="Asia/Kolkata")
    assert (policy.retention, policy.min_free_mb, policy.secondary_targets, policy.rpo_hours) == (
        RetentionRules(keep_last=7), 1500, ("offsite",), 48)
    again = edited(policy, at=":15", enabled=False)
    assert (again.schedule.hour, again.schedule.minute, again.enabled, again.retention) == (
        0, 15, False, RetentionRules(keep_last=7))
    assert parse_hours("26h") == 26 and parse_size_mb("500") == 500 and parse_clock("7") == (0, 7)


def test_a_policy_round_trips_through_the_profile_record():
    policy = Policy(schedule=Schedule(Frequency.MONTHLY, hour=3, minute=5, day=15, timezone="Europe/Berlin"),
                    retention=RetentionRules(keep_last=3, keep_monthly=12), min_free_mb=750,
                    secondary_targets=("s3", "sftp"), rpo_hours=800, since="2026-12-01T00:00:00Z")
    profile = Profile("prod", "postgresql://db/app", policy=policy)
    stored = json.loads(json.dumps(profile.to_dict()))
    assert Profile.from_dict(stored) == profile
    assert stored["policy"]["schedule"] == {"frequency": "monthly", "timezone": "Europe/Berlin", "minute": 5,
                                            "hour": 3, "day": 15}


def test_a_profile_without_a_policy_is_stored_as_an_older_release_wrote_it():
    old = {"name": "prod", "database_url": "postgresql://db/app", "mode": "direct", "direct_acknowledged": True,
           "direct_url": None, "target": "vault", "tool_dirs": [], "stored_secrets": []}
    profile = Profile.from_dict(old)
    assert profile.policy is None and profile.to_dict() == old


@pytest.mark.parametrize(("field", "value", "message"), [
    ("schedule", {"frequency": "sometimes"}, "'frequency' must be one of"),
    ("schedule", {"frequency": "weekly", "weekday": "funday"}, "'weekday' must be one of"),
    ("schedule", {"frequency": "daily", "timezone": "Nowhere/Else"}, "Unknown time zone"),
    ("retention", {"keep_forever": 1}, "unknown retention rule"),
    ("min_free_mb", "a lot", "'min_free_mb' must be"),
    ("enabled", "yes", "'enabled' must be true or false"),
])
def test_a_damaged_policy_in_the_file_names_its_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        Policy.from_dict({field: value})
