"""The one place engine jobs meet Qt: run off the GUI thread, report progress as signals, honour cancel.

A job is a plain function taking the engine's `Reporter`; its progress snapshots, result and
errors come back to the GUI thread as queued signals. Jobs that touch the same key (a target,
a profile) run one after another, like Vorta's one queue per repository.

Wizards and dialogs await jobs: `await run_job(runner, job)` inside a coroutine started with
`start_task` returns the job's result or raises its error, and cancelling the task cancels the job.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QApplication, QDialog

from recovery_console.engine.progress import CancelToken, Progress, Reporter
from recovery_console.errors import Cancelled, RecoveryError

JobFunction = Callable[[Reporter], Any]
T = TypeVar("T")
log = logging.getLogger(__name__)


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
            reporter.check()  # cancelled while it waited in the queue: it never starts
            result = self.function(reporter)
        except Cancelled:
            self.cancelled.emit()
        except RecoveryError as exc:
            self.failed.emit(exc)
        except Exception as exc:  # a bug, not a user error: logged, and shown in the one error style
            log.exception("Job %r stopped on an unexpected error", self.name)
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


# ------------------------------------------------------------------ awaiting jobs (qasync)


def event_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop that runs on Qt's event loop: the app's qasync loop, or one made now for a bare QApplication
    (tests, tools) whose events someone else processes."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    app = QApplication.instance()
    if app is None:
        raise RuntimeError("Coroutines need a QApplication to run on.")
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app, already_running=True)
    asyncio.set_event_loop(loop)
    return loop


def start_task(flow: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run `flow` on the Qt event loop from plain (synchronous) Qt code; a bug in it reaches sys.excepthook."""
    task = event_loop().create_task(flow)
    task.add_done_callback(_report_bug)
    return task


def _report_bug(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        sys.excepthook(type(exc), exc, exc.__traceback__)


async def run_job(runner: JobRunner, job: Job) -> Any:
    """Submit `job` and wait for it without blocking the GUI thread: its result, or its error raised.

    A job stopped by its token raises `Cancelled` (a `RecoveryError`). Cancelling the awaiting task
    cancels the job's token and waits for the job to stop before the task ends cancelled, so no
    worker outlives the flow that started it.
    """
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any = None, error: BaseException | None = None) -> None:
        if outcome.done():
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)

    job.succeeded.connect(lambda result: settle(result))
    job.failed.connect(lambda error: settle(error=error))
    job.cancelled.connect(lambda: settle(error=Cancelled()))
    runner.submit(job)
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:
        job.cancel()
        await asyncio.wait([outcome])
        if not outcome.cancelled():
            outcome.exception()  # seen: the task ends cancelled, whatever the job's own outcome was
        raise


async def answered(dialog: QDialog) -> int:
    """Open `dialog` window-modal without blocking (no nested event loop) and wait until it is closed; its result."""
    closed: asyncio.Future[int] = event_loop().create_future()
    dialog.finished.connect(lambda code: None if closed.done() else closed.set_result(code))
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.open()
    try:
        return await closed
    except asyncio.CancelledError:
        dialog.reject()
        raise
