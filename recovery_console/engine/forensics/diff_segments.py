"""Runs of rows both sides hold byte for byte, found without looking at each row: what the diff may skip.

A chunk of whole rows is cut into segments after every row whose first and last bytes (and length)
mix to a value with its top bits zero (about one row in 32): the cut depends on the rows only,
not on where they sit, so after a row added or removed the two sides cut alike again. A segment is
known by the keyed hash of its bytes. The two sides of a table are read together, a chunk at a
time, the side behind first; a segment is held (its chunk kept) until the other side shows the same
one, and then both copies leave the comparison: they hold the same rows. What stays unmatched
longer than a window of bytes, or to the end, is digested row by row and compared as before, so
pairing changes the cost, never the result; memory stays bounded by the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from recovery_console.engine.forensics.diff_digests import NEWLINE

CUT_BITS = 5  # a cut after about one row in 2**CUT_BITS: fewer, longer runs cost less to pair, each holds more rows
HELD_COST = 200  # bytes a held segment costs beyond its rows (its object, its place in the hash map)
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


class _Held:
    """A segment waiting for its match: where it is in its chunk, how many rows, and whether still waiting."""

    __slots__ = ("chunk", "code", "start", "end", "rows", "waiting")

    def __init__(self, chunk: _Chunk, code: int, start: int, end: int, rows: int) -> None:
        self.chunk, self.code, self.start, self.end, self.rows, self.waiting = chunk, code, start, end, rows, True


@dataclass
class _Chunk:
    data: bytes
    held: list[_Held] = field(default_factory=list)
    waiting: int = 0
    cost: int = 0  # its bytes and its segments' bookkeeping, counted against the window


@dataclass
class Side:
    """One side's chunks with segments still waiting (oldest first), and those segments by hash."""

    chunks: Iterator[bytes]
    digest: Callable[[bytes], None]  # rows that must be compared one by one
    count: Callable[[int], None]  # rows matched whole: only counted
    held: deque[_Chunk] = field(default_factory=deque)
    by_hash: dict[int, list[_Held]] = field(default_factory=dict)
    read: int = 0
    held_bytes: int = 0
    ended: bool = False

    def evict_oldest(self) -> None:
        """Digest the rows of the oldest held chunk's waiting segments and let the chunk go."""
        chunk = self.held.popleft()
        self.held_bytes -= chunk.cost
        waiting = [held for held in chunk.held if held.waiting]
        chunk.held.clear()  # the segments point back at their chunk: let refcounting free both now
        if not waiting:
            return
        for held in waiting:
            held.waiting = False
            self._forget(held)
        view = memoryview(chunk.data)
        self.digest(b"".join(view[held.start:held.end] for held in waiting))

    def _forget(self, held: _Held) -> None:
        twins = self.by_hash[held.code]
        twins.remove(held)
        if not twins:
            del self.by_hash[held.code]

    def drop_matched_head(self) -> None:
        while self.held and not self.held[0].waiting:
            chunk = self.held.popleft()
            self.held_bytes -= chunk.cost
            chunk.held.clear()


def _take(side: Side, other: Side, chunk: bytes) -> None:
    """One chunk of `side`: its segments the other side holds are matched; the others are held."""
    cut = segments(chunk)
    entry = _Chunk(chunk)
    matched_here = matched_there = 0
    for code, start, end, rows in zip(cut.hashes.tolist(), cut.starts.tolist(), cut.ends.tolist(),
                                      cut.rows().tolist(), strict=True):
        twins = other.by_hash.get(code)
        if twins:
            held = twins.pop()
            if not twins:
                del other.by_hash[code]
            held.waiting = False
            held.chunk.waiting -= 1
            matched_here += rows
            matched_there += held.rows
            continue
        held = _Held(entry, code, start, end, rows)
        entry.held.append(held)
        side.by_hash.setdefault(code, []).append(held)
    entry.waiting = len(entry.held)
    if matched_here:
        side.count(matched_here)
        other.count(matched_there)
    if entry.waiting:
        side.held.append(entry)
        entry.cost = len(chunk) + HELD_COST * len(entry.held)
        side.held_bytes += entry.cost
    other.drop_matched_head()


def pair_rows(a: Side, b: Side, window: int) -> None:
    """Read both sides' chunks, the side behind first, matching segments; digest what stays unmatched."""
    while not (a.ended and b.ended):
        side, other = (a, b) if (a.read <= b.read and not a.ended) or b.ended else (b, a)
        chunk = next(side.chunks, None)
        if chunk is None:
            side.ended = True
            continue
        side.read += len(chunk)
        _take(side, other, chunk)
        while a.held_bytes + b.held_bytes > window:
            (a if a.held_bytes >= b.held_bytes else b).evict_oldest()
    for side in (a, b):
        while side.held:
            side.evict_oldest()


