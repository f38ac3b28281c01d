"""Plain data for a retention rule: which backups of a profile a prune keeps on each target.

Any combination of rules may be set; a backup is kept when at least one rule keeps it. No rule at
all means keep everything. The safety rules that no policy can override (pinned backups, the newest
fully verified backup, nothing pruned after a failed run) live in the engine, not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from recovery_console.models import json_fields

_BUCKETS = ("keep_daily", "keep_weekly", "keep_monthly")


@dataclass(frozen=True)
class RetentionRules:
    """`keep_last` newest backups; all backups younger than `keep_within_days`; the newest backup of each of
    the last `keep_daily` days, `keep_weekly` ISO weeks and `keep_monthly` months that have one."""

    keep_last: int | None = None
    keep_within_days: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"'{name}' must be a whole number of at least 1, or unset, not {value!r}")

    @property
    def keeps_everything(self) -> bool:
        return all(value is None for value in asdict(self).values())

    def summary(self) -> str:
        """'keep last 7, 14 daily, 8 weekly' — or 'keep everything' when no rule is set."""
        if self.keeps_everything:
            return "keep everything"
        parts = []
        if self.keep_last is not None:
            parts.append(f"last {self.keep_last}")
        if self.keep_within_days is not None:
            parts.append(f"within {self.keep_within_days} day{'s' if self.keep_within_days != 1 else ''}")
        parts += [f"{getattr(self, name)} {name.removeprefix('keep_')}" for name in _BUCKETS
                  if getattr(self, name) is not None]
        return "keep " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetentionRules:
        """The rules as a settings file holds them; a mistyped field raises ValueError naming it."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown retention rule {sorted(unknown)[0]!r}")
        counts = {name: json_fields.optional_count(data, name) for name in cls.__dataclass_fields__}
        return cls(**counts)
