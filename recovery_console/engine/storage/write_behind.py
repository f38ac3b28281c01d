"""A file made durable while it is still being written, so the fsync that ends the write waits for its tail only.

A backup writes hundreds of MB into the page cache and then fsyncs; that last fsync waited for the disk to
take all of it (0.5 s for 264 MB here, while nothing else ran). Here, each FLUSH_EVERY bytes, a thread of
the file's own calls fdatasync on what is written so far while the writer goes on; the closing fsync then
finds little left (0.01 s in the same test). A sync's failure (EIO, a full disk found late) is raised at the
next write or at the end, never lost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FLUSH_EVERY = 32 << 20
WATCH_INTERVAL = 0.1
"""Seconds between looks at the size of a file written through a buffer the writer does not count (synced_behind)."""


class WriteBehind:
    """Syncs the descriptor `fd` behind its writer; `wrote` after each write, `stop` before the descriptor closes."""

    def __init__(self, fd: int, every: int | None = None) -> None:
        self._fd = fd
        self._every = every or FLUSH_EVERY
        self._unsynced = 0
        self._wanted = threading.Event()
        self._stopping = False
        self._failed: OSError | None = None
        self._thread: threading.Thread | None = None

    def wrote(self, size: int) -> None:
        """Count bytes the kernel now holds; past FLUSH_EVERY since the last sync, ask for the next one."""
        if self._failed is not None:
            raise self._failed
        self._unsynced += size
        if self._unsynced >= self._every:
            self._unsynced = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rc-write-behind", daemon=True)
                self._thread.start()
            self._wanted.set()

    def stop(self) -> OSError | None:
        """End the thread, waiting for a sync under way; the failure of a sync, if one failed."""
        if self._thread is not None:
            self._stopping = True
            self._wanted.set()
            self._thread.join()
            self._thread = None
        return self._failed

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self._failed = exc
                return


@contextmanager
def synced_behind(fd: int) -> Iterator[None]:
    """While the block writes to `fd` through any buffer, sync behind it as WriteBehind does, going by the file's
    size (looked at every WATCH_INTERVAL); a failed sync is raised when the block ends (its error may be one the
    closing fsync would no longer see)."""
    behind = WriteBehind(fd)
    done = threading.Event()

    def watch() -> None:
        seen = 0
        while not done.wait(WATCH_INTERVAL):
            size = os.fstat(fd).st_size
            try:
                behind.wrote(size - seen)
            except OSError:  # a sync failed: stop() hands it to the block's end
                return
            seen = size

    watcher = threading.Thread(target=watch, name="rc-write-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        failed = behind.stop()
    if failed is not None:
        raise failed
