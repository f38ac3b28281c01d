"""A table's rows kept for browsing in bounded memory: pages of whole COPY rows, compressed, decoded on demand.

The workbench's table view must show any row of a multi-million-row table at once without holding
millions of Python objects: rows arrive in pages of about `PAGE_BYTES` of text, counted but not
split, each page kept zstd-compressed; reading a row decompresses its page once (the few most
recent pages stay decompressed). One
thread adds pages while another reads rows below `count`; a lock keeps the two apart.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Sequence

import zstandard

from recovery_console.engine.archive.copy_text import split_row

PAGE_BYTES = 256 * 1024
CACHED_PAGES = 8


class RowPages:
    """The rows of one table, appended in order by a reader and looked up by index by a viewer."""

    def __init__(self, columns: Sequence[str], codec: str) -> None:
        self.columns = list(columns)
        self.codec = codec
        self._pages: list[bytes] = []
        self._starts: list[int] = []  # the first row of each page
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._pending_rows = 0
        self._count = 0
        self._stored = 0
        self._text = 0
        self._cache: OrderedDict[int, list[bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._compressor = zstandard.ZstdCompressor(level=1)
        self._decompressor = zstandard.ZstdDecompressor()

    @property
    def count(self) -> int:
        """Rows that can be read now (sealed pages so far, and the rest once `finish` was called)."""
        with self._lock:
            return self._count

    @property
    def memory(self) -> tuple[int, int]:
        """(bytes kept, COPY text bytes they hold): what browsing costs against what was read."""
        with self._lock:
            return self._stored, self._text

    def add(self, chunk: bytes) -> int:
        """Take a chunk of whole COPY rows (each ending in a newline); the readable row count after it.

        Rows are counted, not split: a page is sealed once about `PAGE_BYTES` of text has arrived."""
        self._text += len(chunk)
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self._pending_rows += chunk.count(b"\n")
        if self._pending_size >= PAGE_BYTES:
            self._seal()
        return self.count

    def finish(self) -> int:
        """No more rows: the last part page becomes readable; the final row count."""
        if self._pending_rows:
            self._seal()
        return self.count

    def _seal(self) -> None:
        page = self._compressor.compress(b"".join(self._pending))
        rows = self._pending_rows
        self._pending, self._pending_size, self._pending_rows = [], 0, 0
        with self._lock:
            self._pages.append(page)
            self._starts.append(self._count)
            self._stored += len(page)
            self._count += rows

    def _lines(self, page: int) -> list[bytes]:
        with self._lock:
            lines = self._cache.get(page)
            if lines is not None:
                self._cache.move_to_end(page)
                return lines
            packed = self._pages[page]
        lines = self._decompressor.decompress(packed).split(b"\n")
        with self._lock:
            self._cache[page] = lines
            while len(self._cache) > CACHED_PAGES:
                self._cache.popitem(last=False)
        return lines

    def raw(self, index: int) -> bytes:
        """Row `index` (0-based) as COPY text, without its newline."""
        if not 0 <= index < self.count:
            raise IndexError(index)
        with self._lock:
            page = bisect.bisect_right(self._starts, index) - 1
            first = self._starts[page]
        return self._lines(page)[index - first]

    def row(self, index: int) -> list[str | None]:
        """Row `index`'s values as text (None for NULL); bytes the codec cannot read are shown escaped, not lost."""
        return [None if value is None else value.decode(self.codec, "backslashreplace")
                for value in split_row(self.raw(index))]
