"""Awaiting engine jobs from coroutines on the Qt event loop: result, error, cancel, and the GUI thread stays free."""

from __future__ import annotations

import asyncio
import threading

import pytest

from recovery_console.engine.progress import Phase, Reporter
from recovery_console.errors import Cancelled, RecoveryError, UsageError
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task

pytestmark = pytest.mark.gui

WAIT = 10_000


def test_the_result_comes_back_on_the_gui_thread_with_progress(qtbot):
    runner = JobRunner()
    seen: list[int] = []
    job = Job("add", lambda reporter: (reporter.start(Phase.READ, 2), reporter.advance(2), reporter.finish(),
                                       threading.current_thread() is threading.main_thread())[-1])
    job.progress.connect(lambda progress: seen.append(progress.done))

    async def flow() -> tuple[bool, bool]:
        on_worker_main_thread = await run_job(runner, job)
        return on_worker_main_thread, threading.current_thread() is threading.main_thread()

    task = start_task(flow())
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert task.result() == (False, True)
    qtbot.waitUntil(lambda: seen[-1:] == [2], timeout=WAIT)


def test_the_jobs_error_is_raised_in_the_coroutine(qtbot):
    def fail(reporter: Reporter) -> None:
        raise UsageError("No such thing.", hint="Try another.")

    async def flow() -> RecoveryError:
        try:
            await run_job(JobRunner(), Job("fail", fail))
        except RecoveryError as exc:
            return exc
        raise AssertionError("no error was raised")

    task = start_task(flow())
    qtbot.waitUntil(task.done, timeout=WAIT)
    error = task.result()
    assert isinstance(error, UsageError) and error.hint == "Try another."


async def error_of(job: Job, runner: JobRunner | None = None) -> BaseException | None:
    """The error awaiting `job` raises (a task's own unhandled error would reach pytest-qt's excepthook)."""
    try:
        await run_job(runner or JobRunner(), job)
    except RecoveryError as exc:
        return exc
    return None


def test_a_bug_in_the_job_is_raised_as_a_recovery_error_with_the_traceback(qtbot):
    task = start_task(error_of(Job("crash", lambda reporter: 1 // 0)))
    qtbot.waitUntil(task.done, timeout=WAIT)
    error = task.result()
    assert isinstance(error, RecoveryError) and "unexpected error stopped 'crash'" in error.message
    assert "ZeroDivisionError" in error.detail


def test_cancelling_the_task_cancels_the_token_and_waits_for_the_job_to_stop(qtbot):
    started, stopped = threading.Event(), threading.Event()

    def slow(reporter: Reporter) -> None:
        started.set()
        try:
            while True:
                reporter.check()
                threading.Event().wait(0.01)
        finally:
            stopped.set()

    job = Job("slow", slow)
    task = start_task(run_job(JobRunner(), job))
    qtbot.waitUntil(started.is_set, timeout=WAIT)
    assert not task.done() and not job.token.cancelled
    task.cancel()
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert task.cancelled() and job.token.cancelled
    assert stopped.is_set()  # the worker had stopped before the task ended


def test_a_job_stopped_by_its_token_raises_cancelled(qtbot):
    def stops(reporter: Reporter) -> None:
        reporter.token.cancel()
        reporter.check()

    task = start_task(error_of(Job("stops", stops)))
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert isinstance(task.result(), Cancelled)


def test_a_job_cancelled_while_queued_never_runs(qtbot):
    runner = JobRunner()
    release, ran = threading.Event(), threading.Event()
    first = Job("first", lambda reporter: release.wait(WAIT / 1000), key="target")
    second = Job("second", lambda reporter: ran.set(), key="target")
    first_task = start_task(run_job(runner, first))
    second_task = start_task(error_of(second, runner))
    qtbot.waitUntil(lambda: second in [j for q in runner._waiting.values() for j in q], timeout=WAIT)
    second.cancel()
    release.set()
    qtbot.waitUntil(lambda: first_task.done() and second_task.done(), timeout=WAIT)
    assert first_task.result() is True
    assert isinstance(second_task.result(), Cancelled) and not ran.is_set()


def test_the_gui_thread_keeps_running_while_a_job_is_awaited(qtbot):
    release = threading.Event()
    ticks: list[int] = []

    async def ticker() -> None:
        while not release.is_set():
            ticks.append(1)
            await asyncio.sleep(0.01)

    task = start_task(run_job(JobRunner(), Job("wait", lambda reporter: release.wait(WAIT / 1000))))
    ticking = start_task(ticker())
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=WAIT)
    assert not task.done()
    release.set()
    qtbot.waitUntil(lambda: task.done() and ticking.done(), timeout=WAIT)
