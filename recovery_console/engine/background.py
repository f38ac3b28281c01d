"""One call run on a daemon thread, its result a Future: for work that overlaps slow I/O or a child process."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(fn: Callable[..., T], *args: Any, name: str = "rc-background", idle: bool = False) -> Future[T]:
    """Start fn(*args) on a daemon thread, so that a call stuck on a hung peer never keeps the program from exiting.

    `idle`: the thread runs at the lowest CPU priority, taking only CPU time the other threads leave (on Linux,
    where each thread has its own nice value; elsewhere at normal priority)."""
    future: Future[T] = Future()

    def run() -> None:
        if idle and sys.platform == "linux":
            with suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
