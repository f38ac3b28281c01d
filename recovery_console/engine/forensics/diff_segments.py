"""Runs of rows both sides hold byte for byte, found without looking at each row: what the diff may skip.

A chunk of whole rows is cut into segments after every row whose first and last bytes (and length)
mix to a value with its top bits zero (about one row in eight): the cut depends on the rows only,
not on where they sit, so after a row added or removed the two sides cut alike again. A segment is
known by the keyed hash of its bytes. Rows in a segment of B that is also in A (once: a hash A
holds twice is never matched) are equal on both sides and leave the comparison together with A's
copy; every other row is digested and compared as before, so skipping changes the cost, never the
result. The index holds one hash per segment of A, up to a cap: beyond it, nothing is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recovery_console.engine.forensics.diff_digests import NEWLINE

CUT_BITS = 3  # a cut after about one row in 2**CUT_BITS
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


@dataclass
class Segments:
    """A chunk's segments: where each starts and ends in the chunk, its last row, and its hash."""

    starts: NDArray[np.int64]
    ends: NDArray[np.int64]
    last_rows: NDArray[np.int64]
    hashes: NDArray[np.int64]

    def rows(self) -> NDArray[np.int64]:
        """How many rows each segment holds."""
        return np.diff(self.last_rows, prepend=-1)

    def pieces(self, chosen: NDArray[np.bool_], chunk: bytes) -> bytes:
        """The chosen segments' bytes, joined (whole rows still)."""
        view = memoryview(chunk)
        return b"".join(view[s:e] for s, e in zip(self.starts[chosen].tolist(), self.ends[chosen].tolist(),
                                                   strict=True))


def segments(chunk: bytes) -> Segments:
    """Cut a chunk of whole COPY rows (each ending in a newline) into segments."""
    data = np.frombuffer(chunk, np.uint8)
    row_ends = np.flatnonzero(data == NEWLINE) + 1
    if not len(row_ends):
        none = np.zeros(0, np.int64)
        return Segments(none, none, none, none)
    row_starts = np.concatenate(([0], row_ends[:-1]))
    if len(data) < 8:
        data = np.frombuffer(chunk + bytes(8), np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(data, 8)
    last = len(windows) - 1  # a row within 8 bytes of the chunk's end or start is read from inside the chunk
    head = windows[np.minimum(row_starts, last)].copy().view(np.uint64)[:, 0]
    tail = windows[np.maximum(row_ends - 8, 0)].copy().view(np.uint64)[:, 0]  # the 8 bytes before a row's end
    mixed = (head * _MIX[0]) ^ (tail * _MIX[1]) ^ ((row_ends - row_starts).astype(np.uint64) * _MIX[2])
    cut = (mixed * _MIX[0]) >> np.uint64(64 - CUT_BITS) == 0
    cut[-1] = True
    last_rows = np.flatnonzero(cut)
    ends = row_ends[last_rows]
    starts = np.concatenate(([0], ends[:-1]))
    pieces = map(memoryview(chunk).__getitem__, map(slice, starts.tolist(), ends.tolist()))
    hashes = np.fromiter(map(hash, pieces), np.int64, len(ends))  # all in C: no Python code per segment
    return Segments(starts, ends, last_rows, hashes)


class SegmentIndex:
    """A's segments of one table by hash; B's segments are matched against it, each of A's at most once."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[NDArray[np.int64]] = []
        self.count = 0
        self.full = False
        self._hashes = np.zeros(0, np.int64)
        self._ids = np.zeros(0, np.int64)
        self.matched = np.zeros(0, bool)

    def add(self, hashes: NDArray[np.int64]) -> NDArray[np.int64]:
        """Number A's next segments; the numbers are returned (they go with A's rows' digests)."""
        ids = np.arange(self.count, self.count + len(hashes), dtype=np.int64)
        self.count += len(hashes)
        if self.count > self._cap:
            self.full = True
            self._parts.clear()
        else:
            self._parts.append(hashes)
        return ids

    def freeze(self) -> None:
        """A has been read: keep the hashes A holds once, sorted, for B's lookups."""
        self.matched = np.zeros(self.count, bool)
        if self.full or not self._parts:
            return
        every = np.concatenate(self._parts)
        self._parts.clear()
        order = np.argsort(every, kind="stable")
        ordered = every[order]
        alone = np.ones(len(ordered), bool)
        same = ordered[1:] == ordered[:-1]
        alone[1:] &= ~same
        alone[:-1] &= ~same
        self._hashes, self._ids = ordered[alone], order[alone]

    def match(self, hashes: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of B's segments (by hash) match a segment of A not matched yet; those of A are marked matched."""
        found = np.zeros(len(hashes), bool)
        if not len(self._hashes) or not len(hashes):
            return found
        at = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        hit = np.flatnonzero(self._hashes[at] == hashes)
        ids = self._ids[at[hit]]
        free = ~self.matched[ids]
        hit, ids = hit[free], ids[free]
        ids, first = np.unique(ids, return_index=True)  # one B segment per A segment
        found[hit[first]] = True
        self.matched[ids] = True
        return found
