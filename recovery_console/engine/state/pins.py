"""Pins (legal holds): backups that no prune and no delete may remove, kept in `pins.json` in the config folder.

The catalog is only a cache that `catalog rebuild` recreates from the targets, so a hold cannot live
there: it lives in its own small file, keyed by target name and object key, written whole through
atomic.py under an OS file lock so that two consoles pinning at once both keep their pin.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass

from recovery_console.engine.state.atomic import write_json
from recovery_console.engine.state.file_lock import held
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import RecoveryError, from_os_error

FILE_NAME = "pins.json"


@dataclass(frozen=True)
class Pin:
    """One held backup: where it is, why it is held, since when and by whom."""

    target: str
    key: str
    reason: str
    pinned_at: str
    pinned_by: str


class PinsDamagedError(RecoveryError):
    """pins.json cannot be read: no delete or prune may go ahead, since a hold might be missed."""


class PinStore:
    """The pins file; every read sees the file as it is now (another console may have changed it)."""

    def __init__(self, paths: AppPaths) -> None:
        self.path = paths.config_dir / FILE_NAME

    def all(self) -> list[Pin]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise self._damaged(str(exc)) from exc
        try:
            return [Pin(**{name: str(item[name]) for name in Pin.__dataclass_fields__}) for item in raw["pins"]]
        except (KeyError, TypeError) as exc:
            raise self._damaged(f"an entry lacks {exc}") from exc

    def _damaged(self, why: str) -> PinsDamagedError:
        return PinsDamagedError(f"The list of pinned backups {self.path} cannot be read ({why}); nothing was deleted.",
                                hint="Restore the file from a copy, or fix its JSON by hand: it holds the legal holds.")

    def by_key(self, target: str) -> dict[str, str]:
        """Object key → reason, for every pin on `target`."""
        return {pin.key: pin.reason for pin in self.all() if pin.target == target}

    def get(self, target: str, key: str) -> Pin | None:
        return next((pin for pin in self.all() if (pin.target, pin.key) == (target, key)), None)

    def add(self, pin: Pin) -> None:
        """Hold a backup; pinning it again replaces the reason."""
        with self._locked():
            pins = [p for p in self.all() if (p.target, p.key) != (pin.target, pin.key)] + [pin]
            self._write(pins)

    def remove(self, target: str, key: str) -> bool:
        """Release a hold; False when there was none."""
        with self._locked():
            pins = self.all()
            kept = [p for p in pins if (p.target, p.key) != (target, key)]
            if len(kept) == len(pins):
                return False
            self._write(kept)
            return True

    def _write(self, pins: list[Pin]) -> None:
        try:
            write_json(self.path, {"pins": [asdict(pin) for pin in pins]})
        except OSError as exc:
            raise from_os_error("writing", str(self.path), exc) from exc

    def _locked(self) -> AbstractContextManager[None]:
        return held(self.path.with_name(FILE_NAME + ".lock"))
