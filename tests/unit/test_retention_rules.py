"""The retention rule model: validation, its one-line summary and its settings-file form."""

from __future__ import annotations

import pytest

from recovery_console.models.retention import RetentionRules


def test_no_rule_keeps_everything() -> None:
    assert RetentionRules().keeps_everything and RetentionRules().summary() == "keep everything"


def test_summary_names_every_rule_set() -> None:
    rules = RetentionRules(keep_last=7, keep_within_days=1, keep_daily=14, keep_weekly=8)
    assert rules.summary() == "keep last 7, within 1 day, 14 daily, 8 weekly"


@pytest.mark.parametrize("value", [0, -3, True, 2.5, "7"])
def test_a_rule_below_one_or_not_a_whole_number_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="keep_daily"):
        RetentionRules(keep_daily=value)  # type: ignore[arg-type]


def test_round_trip_through_a_settings_record() -> None:
    rules = RetentionRules(keep_monthly=12, keep_within_days=30)
    assert rules.to_dict() == {"keep_within_days": 30, "keep_monthly": 12}
    assert RetentionRules.from_dict(rules.to_dict()) == rules


def test_an_unknown_rule_in_a_settings_record_is_named() -> None:
    with pytest.raises(ValueError, match="keep_yearly"):
        RetentionRules.from_dict({"keep_yearly": 3})
