"""When each storage target was last seen working: the data behind the green/amber/red badges.

A tiny JSON file in the data folder (``target_health.json``) holding, per target name, the time
of the last check, whether it succeeded and a short message. `Console` records a round trip
(`test_target`) and every backup upload, upload and download (a failure only when the target
itself failed, not when a file was corrupt); the CLI and GUI read :meth:`TargetHealth.badge`:

* ``green``   the last check passed less than 5 minutes ago,
* ``amber``   the last check passed less than a day ago,
* ``red``     the last check failed, or it passed a day or more ago,
* ``unknown`` the target was never checked here.

No secret is ever stored: only names, times, a verdict and a message meant for the user.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recovery_console.engine.state.atomic import write_json

FILE_NAME = "target_health.json"
GREEN_FOR = timedelta(minutes=5)
AMBER_FOR = timedelta(days=1)
BADGES = ("green", "amber", "red", "unknown")
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class HealthEntry:
    """The last check of one target."""

    target: str
    time: str  # ISO-8601 UTC with a trailing Z
    ok: bool
    message: str = ""

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00"))


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


class TargetHealth:
    """The persisted last-check record of every target; safe to use from worker threads."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._lock = threading.Lock()

    def _load(self) -> dict[str, HealthEntry]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # a damaged record only costs the badges; the next check rewrites it
        entries: dict[str, HealthEntry] = {}
        if isinstance(raw, dict):
            for name, data in raw.items():
                try:
                    entries[name] = HealthEntry(target=name, time=str(data["time"]), ok=bool(data["ok"]),
                                                message=str(data.get("message", "")))
                    entries[name].when  # noqa: B018 - reject unparseable times now
                except (KeyError, TypeError, ValueError):
                    continue
        return entries

    def _save(self, entries: dict[str, HealthEntry]) -> None:
        write_json(self.path, {name: {k: v for k, v in asdict(e).items() if k != "target"}
                               for name, e in sorted(entries.items())})

    def record(self, target: str, ok: bool, message: str = "", now: datetime | None = None) -> HealthEntry:
        """Remember the outcome of a check of `target` (a round trip, upload or download)."""
        when = _utc(now).astimezone(UTC)
        entry = HealthEntry(target=target, time=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
                            ok=bool(ok), message=message[:_MAX_MESSAGE])
        with self._lock:
            entries = self._load()
            entries[target] = entry
            self._save(entries)
        return entry

    def get(self, target: str) -> HealthEntry | None:
        with self._lock:
            return self._load().get(target)

    def all(self) -> dict[str, HealthEntry]:
        with self._lock:
            return self._load()

    def forget(self, target: str) -> None:
        with self._lock:
            entries = self._load()
            if entries.pop(target, None) is not None:
                self._save(entries)

    def badge(self, target: str, now: datetime | None = None) -> str:
        """"green", "amber", "red" or "unknown" for `target` at `now` (default: the current time)."""
        return badge_for(self.get(target), now)


def badge_for(entry: HealthEntry | None, now: datetime | None = None) -> str:
    if entry is None:
        return "unknown"
    if not entry.ok:
        return "red"
    age = _utc(now) - entry.when
    if age < GREEN_FOR:
        return "green"
    if age < AMBER_FOR:
        return "amber"
    return "red"
