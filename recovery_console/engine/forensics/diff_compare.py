"""Two sides' digest records of one table compared: by key (rows only in A, only in B, changed) or as multisets.

Both sides are sorted together (numpy lexsort on the digest lanes, a side flag last), so a key
present on both sides sits next to itself; for a table without a key, equal row digests form runs
whose per-side counts say how many copies of that row each side has beyond the other's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from recovery_console.engine.forensics.diff_digests import Records

Digests = NDArray[np.int64]  # shape (n, 2), sorted by lane 0 then lane 1


def _none() -> Digests:
    return np.zeros((0, 2), np.int64)


def _counts() -> NDArray[np.int64]:
    return np.zeros(0, np.int64)


@dataclass
class Wanted:
    """What the second pass must print for one table: keys (with a key) or row digests with their copies."""

    only_a: Digests = field(default_factory=_none)
    only_b: Digests = field(default_factory=_none)
    changed: Digests = field(default_factory=_none)
    copies_a: NDArray[np.int64] = field(default_factory=_counts)
    copies_b: NDArray[np.int64] = field(default_factory=_counts)

    @classmethod
    def joined(cls, parts: list[Wanted]) -> Wanted:
        """The parts (one per bucket) as one, each list sorted once."""
        if not parts:
            return cls()
        only_a, copies_a = _joined([p.only_a for p in parts], [p.copies_a for p in parts])
        only_b, copies_b = _joined([p.only_b for p in parts], [p.copies_b for p in parts])
        return cls(only_a, only_b, _sorted(np.concatenate([p.changed for p in parts])), copies_a, copies_b)


def _sorted(digests: Digests) -> Digests:
    return digests[np.lexsort((digests[:, 1], digests[:, 0]))] if len(digests) else digests


def _joined(digests: list[Digests], counts: list[NDArray[np.int64]]) -> tuple[Digests, NDArray[np.int64]]:
    every, copies = np.concatenate(digests), np.concatenate(counts)
    order = np.lexsort((every[:, 1], every[:, 0])) if len(every) else np.zeros(0, np.int64)
    return every[order], copies[order] if len(copies) else copies


@dataclass
class Counts:
    only_a: int = 0
    only_b: int = 0
    changed: int = 0


def _together(a: Records, b: Records) -> tuple[Records, NDArray[np.int8]]:
    """Both sides sorted by digest, a side flag beside each record (A before B among equals)."""
    both = np.concatenate([a, b])
    side = np.concatenate([np.zeros(len(a), np.int8), np.ones(len(b), np.int8)])
    # One key, far faster than a lexsort on three; its bytes swapped so that short keys (their own bytes) sort as
    # text: rows dumped in key order are then runs already sorted, which the stable sort merges in linear time.
    order = np.argsort(both[:, 0].byteswap(), kind="stable")
    rows, side = both[order], side[order]
    same_first = rows[1:, 0] == rows[:-1, 0]
    if (same_first & (rows[1:, 1] != rows[:-1, 1])).any():  # equal first lanes, different second: sort on both
        order = np.lexsort((side, both[:, 1], both[:, 0]))
        rows, side = both[order], np.concatenate([np.zeros(len(a), np.int8), np.ones(len(b), np.int8)])[order]
    return rows, side


def by_key(a: Records, b: Records) -> tuple[Counts, Wanted]:
    """Match rows by key digest: a key on one side only, or on both with different row digests (changed)."""
    rows, side = _together(a, b)
    same = (rows[1:, 0] == rows[:-1, 0]) & (rows[1:, 1] == rows[:-1, 1]) & (side[:-1] == 0) & (side[1:] == 1)
    left = np.flatnonzero(same)
    matched = np.zeros(len(rows), bool)
    matched[left] = matched[left + 1] = True
    differ = rows[left, 2] != rows[left + 1, 2]
    wanted = Wanted(only_a=rows[~matched & (side == 0), :2], only_b=rows[~matched & (side == 1), :2],
                    changed=rows[left[differ], :2])
    wanted.copies_a = np.ones(len(wanted.only_a), np.int64)
    wanted.copies_b = np.ones(len(wanted.only_b), np.int64)
    return Counts(len(wanted.only_a), len(wanted.only_b), int(differ.sum())), wanted


def as_multiset(a: Records, b: Records) -> tuple[Counts, Wanted]:
    """Compare row digests as multisets: a row A holds three times and B once is two rows only in A."""
    rows, side = _together(a, b)
    if not len(rows):
        return Counts(), Wanted()
    starts = np.flatnonzero(np.concatenate([[True], (rows[1:, 0] != rows[:-1, 0]) | (rows[1:, 1] != rows[:-1, 1])]))
    in_b = np.add.reduceat(side.astype(np.int64), starts)
    in_a = np.diff(np.append(starts, len(rows))) - in_b
    extra_a, extra_b = in_a - in_b, in_b - in_a
    wanted = Wanted(only_a=rows[starts[extra_a > 0], :2], only_b=rows[starts[extra_b > 0], :2],
                    copies_a=extra_a[extra_a > 0], copies_b=extra_b[extra_b > 0])
    return Counts(int(wanted.copies_a.sum()), int(wanted.copies_b.sum())), wanted


class Lookup:
    """Which of a chunk's digests are in a sorted set, and (for multisets) how many copies are still to print."""

    def __init__(self, digests: Digests, copies: NDArray[np.int64] | None = None) -> None:
        self._digests = digests
        self._first = np.ascontiguousarray(digests[:, 0])  # searched once per batch of rows
        self._left = copies.copy() if copies is not None else None

    def __len__(self) -> int:
        return len(self._digests)

    def hits(self, lanes: NDArray[np.int64]) -> list[int]:
        """The rows of `lanes` (shape (n, 2)) in the set; a multiset row counts down its copies."""
        if not len(self._digests) or not len(lanes):
            return []
        first = self._first
        at = np.searchsorted(first, lanes[:, 0])
        inside = at < len(first)
        candidates = np.flatnonzero(inside & (first[np.minimum(at, len(first) - 1)] == lanes[:, 0]))
        found = []
        for row in candidates.tolist():
            position = int(at[row])
            while position < len(first) and first[position] == lanes[row, 0]:
                if self._digests[position, 1] == lanes[row, 1]:
                    if self._take(position):
                        found.append(row)
                    break
                position += 1
        return found

    def _take(self, position: int) -> bool:
        if self._left is None:
            return True
        if self._left[position] <= 0:
            return False
        self._left[position] -= 1
        return True
