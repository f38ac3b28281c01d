"""The one place engine jobs meet Qt: run off the GUI thread, report progress as signals, honour cancel.

A job is a plain function taking the engine's `Reporter`; its progress snapshots, result and
errors come back to the GUI thread as queued signals. Jobs that touch the same key (a target,
a profile) run one after another, like Vorta's one queue per repository.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from recovery_console.engine.progress import CancelToken, Progress, Reporter
from recovery_console.errors import Cancelled, RecoveryError

JobFunction = Callable[[Reporter], Any]


class Job(QObject):
    """One piece of engine work with its own cancel token; connect to its signals before submitting."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(self, name: str, function: JobFunction, key: str = "") -> None:
        super().__init__()
        self.name = name
        self.key = key
        self.function = function
        self.token = CancelToken()
        self.last_progress: Progress | None = None

    def cancel(self) -> None:
        self.token.cancel()

    def execute(self) -> None:
        """Runs on a worker thread; everything it reports crosses back as a queued signal."""
        reporter = Reporter(sink=self._report, token=self.token)
        try:
            result = self.function(reporter)
        except Cancelled:
            self.cancelled.emit()
        except RecoveryError as exc:
            self.failed.emit(exc)
        except Exception as exc:  # a bug, not a user error: still shown in the one error style
            self.failed.emit(RecoveryError(f"An unexpected error stopped '{self.name}'.",
                                           hint="Please report it with the details below.",
                                           detail="".join(traceback.format_exception(exc))))
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()

    def _report(self, progress: Progress) -> None:
        self.last_progress = progress
        self.progress.emit(progress)


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def run(self) -> None:
        self.job.execute()


class JobRunner(QObject):
    """Queues jobs on a thread pool; jobs sharing a non-empty key never run at the same time."""

    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool | None = None) -> None:
        super().__init__()
        self.pool = pool or QThreadPool.globalInstance()
        self._waiting: dict[str, deque[Job]] = {}
        self._running: list[Job] = []

    @property
    def running(self) -> list[Job]:
        return list(self._running)

    def submit(self, job: Job) -> Job:
        if job.key and any(j.key == job.key for j in self._running):
            self._waiting.setdefault(job.key, deque()).append(job)
            return job
        self._start(job)
        return job

    def _start(self, job: Job) -> None:
        self._running.append(job)
        job.done.connect(lambda: self._finished(job))
        if len(self._running) == 1:
            self.busy_changed.emit(True)
        self.pool.start(_Runnable(job))

    def _finished(self, job: Job) -> None:
        self._running.remove(job)
        queue = self._waiting.get(job.key)
        if queue:
            self._start(queue.popleft())
        elif not self._running:
            self.busy_changed.emit(False)

    def cancel_all(self) -> None:
        for queue in self._waiting.values():
            queue.clear()
        for job in self._running:
            job.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)
