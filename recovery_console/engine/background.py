"""One call run on a daemon thread, its result a Future: for work that overlaps slow I/O or a child process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(fn: Callable[..., T], *args: Any, name: str = "rc-background") -> Future[T]:
    """Start fn(*args) on a daemon thread, so that a call stuck on a hung peer never keeps the program from exiting."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
