"""The latest slot a scheduled run served, per profile (served-slots.json in the data folder).

The due check reads this small file instead of the whole run history, so `run-due` with nothing due
stays fast however long the history grows. It is written after the run's end is in the history, so a
crash between the two can only make a slot run once more, never skip one; a missing or damaged file
is rebuilt from the history. Updates hold a file lock, so runs of different profiles do not lose each
other's slot.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

from recovery_console.engine.state.atomic import write_json
from recovery_console.engine.state.file_lock import held
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.run_history import RunHistory

SERVED_FILE = "served-slots.json"


class ServedSlots:
    def __init__(self, paths: AppPaths) -> None:
        self.file: Path = paths.data_dir / SERVED_FILE
        self.history = RunHistory(paths)

    def load(self) -> dict[str, str]:
        """profile → latest served slot (UTC, ISO)."""
        try:
            data = json.loads(self.file.read_bytes())
        except (OSError, ValueError):  # missing or damaged
            return self._from_history()
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return self._from_history()
        return data

    def mark(self, profile: str, slot: str) -> None:
        """Record that a run of `profile` served `slot` (kept only if later than the one recorded)."""
        with self._locked():
            served = self.load()
            if served.get(profile, "") < slot or not self.file.is_file():  # …Z times: text order is time order
                served[profile] = max(slot, served.get(profile, ""))
                write_json(self.file, served, sort_keys=True)

    def _from_history(self) -> dict[str, str]:
        served: dict[str, str] = {}
        for record in self.history.records():
            if record.slot and record.trigger == "scheduled" and record.serves_slot:
                served[record.profile] = max(served.get(record.profile, ""), record.slot)
        return served

    def _locked(self) -> AbstractContextManager[None]:
        return held(self.file.with_name(self.file.name + ".lock"))
