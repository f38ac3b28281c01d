"""Cheap wall-clock spans of a job's steps, logged at DEBUG (`--debug`), so a benchmark sees where time goes.

Each span logs one line, `span NAME WALL_S cpu self=S children=S`: its wall seconds, then this
process's CPU seconds (all threads) and those of its waited-for children (pg_restore) so far. A span
off the main thread is named `NAME@THREAD`, so that one overlapping the main thread's is not taken for a step.
Costs two clock reads and two getrusage calls; nothing is kept in memory.
"""

from __future__ import annotations

import functools
import logging
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def span(name: str) -> Iterator[None]:
    """Time the block; the line is logged whether it ends normally or by an exception."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if log.isEnabledFor(logging.DEBUG):
            thread = threading.current_thread()
            where = "" if thread is threading.main_thread() else f"@{thread.name}"
            log.debug("span %s%s %.3f cpu self=%.3f children=%.3f", name, where, time.perf_counter() - start,
                      _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN))


def timed(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of `span`, for a method that is one step of a job."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            with span(name):
                return func(*args, **kwargs)

        return inner

    return wrap
