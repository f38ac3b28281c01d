"""An iterator run by a helper thread a few items ahead of its consumer, so both cores work.

Reading, decrypting and decompressing (zlib, zstd, lz4, AES-GCM and file reads release the GIL) then
overlap with what the consumer does with each chunk. The consumer sees the same items, in order, and
any error raised while producing them; stopping early (or failing) stops and joins the thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

T = TypeVar("T")
DEPTH = 8


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def read_ahead(items: Iterator[T], depth: int = DEPTH) -> Generator[T, None, None]:
    """The items of `items`, produced by a helper thread up to `depth` ahead; only this generator's thread may
    touch `items` until it is exhausted or closed (closing it joins the helper)."""
    handoff: queue.Queue[object] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                handoff.put(item)
                if stop.is_set():
                    return
            handoff.put(_END)
        except BaseException as exc:  # noqa: BLE001  # handed to the consumer, raised there
            handoff.put(_Failed(exc))

    helper = threading.Thread(target=produce, name="read-ahead", daemon=True)
    helper.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield cast(T, item)
    finally:
        stop.set()
        while helper.is_alive():  # unblock a helper waiting for room, then wait for it to see `stop`
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.01)
        helper.join()
