"""'Test connection' for a target: a real round trip that names the exact step that failed."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field

from recovery_console.engine.storage.base import Storage
from recovery_console.errors import RecoveryError

log = logging.getLogger(__name__)

PROBE_PREFIX = "backups/.rc-probe-"


@dataclass(frozen=True)
class StepResult:
    step: str
    ok: bool
    message: str = ""
    hint: str = ""


@dataclass(frozen=True)
class CheckReport:
    """Each round-trip step in order; the first failure ends the check."""

    target: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)


def round_trip(storage: Storage) -> CheckReport:
    """List, write a small object, read it back and compare its hash, delete it."""
    payload = os.urandom(4096)
    key = f"{PROBE_PREFIX}{payload[:6].hex()}"
    steps: list[StepResult] = []

    def read_back() -> None:
        if hashlib.sha256(storage.get_bytes(key)).digest() != hashlib.sha256(payload).digest():
            raise RecoveryError("The object read back differs from what was written.",
                                hint="The target corrupts data; do not keep backups there.")

    plan = (("list", lambda: list(storage.list("backups/"))), ("write", lambda: storage.put_bytes(key, payload)),
            ("read", read_back), ("delete", lambda: storage.delete(key)))
    for step, action in plan:
        try:
            action()
        except RecoveryError as exc:
            steps.append(StepResult(step, False, exc.message, exc.hint))
            if step == "read":
                _discard(storage, key)
            break
        steps.append(StepResult(step, True))
    return CheckReport(storage.name, steps)


def _discard(storage: Storage, key: str) -> None:
    """Best-effort removal of the probe after a failed read; the failure already reported matters more."""
    try:
        storage.delete(key)
    except RecoveryError as exc:
        log.debug("%s: removing the probe %s failed: %s", storage.name, key, exc.message)
