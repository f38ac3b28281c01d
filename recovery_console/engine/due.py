"""Which profiles are due, read from profiles.json and the run history alone: no console is opened, no
target or database is contacted, so `run-due` with nothing due returns at once (it is called often).

A profile is due when the latest slot of its schedule (engine/schedule_times.py) is later than both the
policy's `since` and the last slot a scheduled run served (engine/state/served_slots.py): a machine that
was off through many slots runs once, not once per slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recovery_console.engine.schedule_times import latest_slot
from recovery_console.engine.state.named_store import NamedStore
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.run_history import RunRecord
from recovery_console.engine.state.served_slots import ServedSlots
from recovery_console.errors import ExitCode
from recovery_console.models.profile import Profile

PROFILES_FILE = "profiles.json"  # engine/state/profile_store.py's file, read here without its imports


@dataclass(frozen=True)
class RunOutcome:
    """What one profile's run came to: the history record (None when nothing was due) and its exit code."""

    profile: str
    result: str
    reason: str = ""
    record: RunRecord | None = None
    exit_code: int = ExitCode.OK

    def line(self) -> str:
        """'prod: ok, 12.3 MB in 4.1 s', 'prod: skipped: 312 MB free < 500 MB minimum', 'prod: not due'."""
        if self.result == "ok" and self.record is not None:
            return f"{self.profile}: ok, {self.record.bytes:,} bytes in {self.record.duration:.1f} s"
        return f"{self.profile}: {self.result}" + (f": {self.reason}" if self.reason else "")

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "result": self.result, "reason": self.reason,
                "exit_code": int(self.exit_code), "run": self.record.as_dict() if self.record else None}


def exit_code(outcomes: list[RunOutcome]) -> int:
    """The first failure's exit code (busy 12, no space 9, …), or 0 when every due run succeeded."""
    return next((int(o.exit_code) for o in outcomes if o.exit_code != ExitCode.OK), int(ExitCode.OK))


def due_slot(profile: Profile, served: str | None, now: datetime) -> datetime | None:
    """The slot a scheduled run of `profile` would serve now, or None when nothing is due; `served` is the
    latest slot a run of it already served (engine/state/served_slots.py)."""
    policy = profile.policy
    if policy is None or not policy.scheduled:
        return None
    slot = latest_slot(policy.schedule, now)
    if slot is None or (policy.since is not None and slot < instant(policy.since)):
        return None
    return None if served is not None and instant(served) >= slot else slot


def pending(paths: AppPaths, profile: str | None, now: datetime) -> list[tuple[Profile, datetime | None]]:
    """Each profile (only `profile` when given, which must exist) with the slot due now, or None."""
    store = NamedStore(paths.config_dir / PROFILES_FILE, "profile", Profile.from_dict)
    profiles = [store.get(profile)] if profile is not None else list(store.load().values())
    served = ServedSlots(paths).load()
    return [(p, due_slot(p, served.get(p.name), now)) for p in profiles]


def instant(text: str) -> datetime:
    """A stored UTC time ('2026-12-07T02:00:00Z') as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
