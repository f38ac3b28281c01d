"""The one progress-and-cancel protocol long jobs use; the CLI prints it, the GUI turns it into signals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from recovery_console.errors import Cancelled


class Phase(StrEnum):
    """What a job is doing right now."""

    DERIVE_KEY = "derive-key"
    READ = "read"
    ENCRYPT = "encrypt"
    UPLOAD = "upload"
    DOWNLOAD = "download"
    VERIFY = "verify"
    DECRYPT = "decrypt"
    SYNC = "sync"
    DUMP = "dump"
    RESTORE = "restore"
    CHECK = "check"
    SWAP = "swap"

    @property
    def cancellable(self) -> bool:
        """Past the swap's start a restore runs to its end: cancelling there would leave less, not more."""
        return self is not Phase.SWAP


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job's progress: plain numbers, formatting is the viewer's job."""

    phase: Phase
    done: int
    total: int | None
    elapsed: float

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    @property
    def rate(self) -> float:
        """Bytes per second since the phase started."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or None when unknown."""
        if not self.total or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


class ProgressSink(Protocol):
    def __call__(self, progress: Progress) -> None: ...


class CancelToken:
    """Set from any thread to ask a job to stop; the job checks it between chunks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass
class Reporter:
    """What a job holds: a sink to report to (throttled) and a token to honour."""

    sink: ProgressSink | None = None
    token: CancelToken = field(default_factory=CancelToken)
    min_interval: float = 0.1
    clock: Callable[[], float] = time.monotonic
    _phase: Phase = Phase.READ
    _done: int = 0
    _total: int | None = None
    _started: float = 0.0
    _last_emit: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, phase: Phase, total: int | None = None) -> None:
        with self._lock:
            self._phase, self._done, self._total = phase, 0, total
            self._started = self.clock()
        self.token.raise_if_cancelled()
        self._emit(force=True)

    def advance(self, nbytes: int) -> None:
        """Count work done and raise Cancelled if the user asked to stop."""
        with self._lock:
            self._done += nbytes
        self.token.raise_if_cancelled()
        self._emit(force=False)

    def finish(self) -> None:
        self._emit(force=True)

    def check(self) -> None:
        self.token.raise_if_cancelled()

    def snapshot(self) -> Progress:
        with self._lock:
            return Progress(self._phase, self._done, self._total, self.clock() - self._started)

    def _emit(self, force: bool) -> None:
        if self.sink is None:
            return
        now = self.clock()
        if not force and now - self._last_emit < self.min_interval:
            return
        self._last_emit = now
        self.sink(self.snapshot())
