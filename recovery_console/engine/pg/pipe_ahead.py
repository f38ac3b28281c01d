"""A child's output pipe read on a thread into bounded memory, so the child runs ahead of a reader that is busy.

A backup started early (engine/dump_ahead.py) lets pg_dump write while the console is still importing its
modules; the pipe alone (1 MiB) would stop pg_dump after its first MiB. The thread reads whole pieces and
hands them over through a ByteQueue (at most `depth` pieces wait); the reader sees the same bytes in order.
"""

from __future__ import annotations

import io
import threading

from recovery_console.engine.vault.byte_queue import ByteQueue

PIECE = 1 << 20
DEPTH = 28
"""Pieces waiting at most while the console imports its modules and derives the key: with PIECE, 28 MiB ahead of
the reader. With the writer's 32 MiB hold, the realistic backup's peak stays under bench/pg.py's 150 MB (32 MiB
reached 150.3 MB, 48 MiB 166 MB)."""
SETTLED_DEPTH = 4
"""Once the key is derived and the backup streams: a backup slower than pg_dump would keep a deeper queue full to
its end, for nothing."""


class PipeAhead:
    """`read`/`read1` like the pipe's (a read may return less than asked, b"" only at the end); `close` stops."""

    def __init__(self, pipe: io.BufferedReader, depth: int = DEPTH) -> None:
        self._pipe = pipe
        self._queue = ByteQueue(depth)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._drain, name="rc-pipe-ahead", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while piece := self._pipe.read(PIECE):  # whole pieces (fewer than PIECE bytes only at the end)
                self._queue.write(piece)
        except BrokenPipeError:
            pass  # the reader stopped
        except (OSError, ValueError) as exc:  # ValueError: the pipe was closed under the thread
            self._error = exc if isinstance(exc, OSError) else OSError(str(exc))
        finally:
            self._queue.close()

    def read(self, size: int = -1) -> bytes:
        data = self._queue.read(size)
        if not data and self._error is not None:
            raise self._error
        return data

    read1 = read

    def narrow(self, depth: int) -> None:
        """Hold at most `depth` pieces from now on (SETTLED_DEPTH once the backup streams)."""
        self._queue.narrow(depth)

    def close(self) -> None:
        """Drop what waits and end the thread; call once the child has ended (else its next write is awaited)."""
        self._queue.abandon()
        self._thread.join()
        self._pipe.close()
