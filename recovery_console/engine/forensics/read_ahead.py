"""A table's chunks produced on a helper thread, a few ahead of the caller, so reading and decompressing overlap
the caller's conversion, hashing and writing (zlib, zstd, lz4, file reads and SHA-256 run without the GIL).

The helper is the only one to touch the underlying iterator until `close()` has joined it; an error it meets
(a damaged block, a cancel) is raised to the caller, with its traceback, where it happened in the stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

DEPTH = 4  # chunks of about 1 MiB held ahead


class ReadAhead:
    """Iterate `chunks` on a helper thread; `close()` (also at exhaustion or on an error) stops and joins it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rc-read-ahead")
        self._ahead: deque[Future[bytes | None]] = deque(self._ask() for _ in range(DEPTH))
        self._done = False

    def _ask(self) -> Future[bytes | None]:
        return self._pool.submit(next, self._chunks, None)

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        try:
            chunk = self._ahead.popleft().result()
        except BaseException:
            self.close()
            raise
        if chunk is None:
            self.close()
            raise StopIteration
        self._ahead.append(self._ask())
        return chunk

    def close(self) -> None:
        """Stop the helper (it finishes the chunk it is making) and wait for it; the rest stays unread."""
        self._done = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._ahead.clear()
