"""Rows reduced to digests for the diff: a 128-bit matching digest and a row digest per row, held compactly.

A digest lane is Python's keyed hash (SipHash, with this process's random key) of a row's COPY text,
computed in C over a chunk's rows; a short key is its own bytes. Digests live only in this process
(the key changes with every run), in numpy arrays of three int64 per row, kept per table in buckets
by the top bits of the matching digest as they arrive: two sides are compared bucket by bucket with
no global sort, and above a memory budget a side's buckets are appended to files as they are, so
memory stays bounded whatever the table's size.
Imported only by a diff (Workbench.diff calls copy_chunks.before_numpy first).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from recovery_console.errors import from_os_error

Records = NDArray[np.int64]  # shape (n, 3): matching digest (2 lanes: the key, or the row), the row's digest (or 0)
LANES = 3
BUCKET_BITS = 6
BUCKETS = 1 << BUCKET_BITS
RECORD = LANES * 8
NEWLINE, TAB = 10, 9
_REVERSED = operator.itemgetter(slice(None, None, -1))


def empty() -> Records:
    return np.zeros((0, LANES), np.int64)


def _lanes(items: Sequence[bytes]) -> NDArray[np.int64]:
    """The two 64-bit lanes of each item's digest, shape (n, 2)."""
    out = np.empty((len(items), 2), np.int64)
    out[:, 0] = np.fromiter(map(hash, items), np.int64, len(items))
    out[:, 1] = np.fromiter(map(hash, map(_REVERSED, items)), np.int64, len(items))
    return out


def _picker(indexes: Sequence[int]) -> Callable[[bytes], bytes]:
    """A function giving a COPY row's fields at `indexes`, still escaped, joined by tabs."""
    if not indexes:
        return lambda line: b""
    last = max(indexes) + 1
    if list(indexes) == [0]:
        return lambda line: line.partition(b"\t")[0]
    if len(indexes) == 1:
        at = indexes[0]
        return lambda line: line.split(b"\t", last)[at]
    get = operator.itemgetter(*indexes)
    return lambda line: b"\t".join(get(line.split(b"\t", last)))


@dataclass(frozen=True)
class RowShape:
    """How one side's rows are digested: which fields form the key and which are compared (the shared columns)."""

    columns: tuple[str, ...]
    compared: tuple[str, ...]
    key: tuple[str, ...] | None

    def key_of(self) -> Callable[[bytes], bytes] | None:
        if self.key is None:
            return None
        return _picker([self.columns.index(name) for name in self.key])

    def compared_of(self) -> Callable[[bytes], bytes] | None:
        """None when the compared fields are the whole row (the common case, and the fastest)."""
        if self.compared == self.columns:
            return None
        return _picker([self.columns.index(name) for name in self.compared])


class Digester:
    """Digests of a chunk of whole COPY rows: [key (2 lanes), row digest] with a key, else [row digest (2 lanes), 0].

    A single-column key of up to 15 bytes is its own digest (the bytes, zero-padded, and its length in
    the last byte), found for the whole chunk at once with numpy; longer or composite keys are hashed
    (two lanes, the last byte set to 0xFF so that they never equal a short key). With a key, a row's
    digest needs one lane only: it is compared with the other version of the same key, never searched.
    """

    def __init__(self, shape: RowShape) -> None:
        self._key = shape.key_of()
        self._key_index = shape.columns.index(shape.key[0]) if shape.key and len(shape.key) == 1 else None
        self._compared = shape.compared_of()

    def records(self, chunk: bytes) -> tuple[Records, list[bytes]]:
        """The chunk's records and its rows (without their newlines)."""
        lines = rows_of(chunk)
        if not lines:
            return empty(), lines
        compared = lines if self._compared is None else list(map(self._compared, lines))
        out = np.zeros((len(lines), LANES), np.int64)
        if self._key is None:
            out[:, :2] = _lanes(compared)
            return out, lines
        out[:, 2] = np.fromiter(map(hash, compared), np.int64, len(compared))
        if self._key_index == 0:
            out[:, :2] = _first_keys(chunk, lines, self._key)
            return out, lines
        spans = _field_spans(chunk, self._key_index, len(lines)) if self._key_index is not None else None
        if spans is None:
            out[:, :2] = _marked(_lanes(list(map(self._key, lines))))
        else:
            out[:, :2] = _short_keys(chunk, lines, *spans, self._key)
        return out, lines


SHORT_KEY = 15
_HASHED_MARK = np.int64(-1) << np.int64(56)  # top byte 0xFF: a hashed key's last byte, never a short key's length
_LOW_56 = np.int64((1 << 56) - 1)


def _marked(lanes: NDArray[np.int64]) -> NDArray[np.int64]:
    lanes[:, 1] = (lanes[:, 1] & _LOW_56) | _HASHED_MARK
    return lanes


def _field_spans(chunk: bytes, index: int, rows: int) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """Start and end of field `index` in each row of the chunk; None if a row has fewer fields."""
    data = np.frombuffer(chunk, np.uint8)
    ends = np.flatnonzero(data == NEWLINE)
    if len(ends) != rows:
        return None
    starts = np.concatenate(([0], ends[:-1] + 1))
    tabs = np.flatnonzero(data == TAB)
    first = np.searchsorted(tabs, starts)  # each row's first tab (if it has one)
    if index:
        at = first + index - 1
        if (at >= len(tabs)).any():
            return None
        starts = tabs[at] + 1
        if (starts > ends).any():
            return None
    after = first + index
    if not len(tabs):
        return starts, ends
    tab = tabs[np.minimum(after, len(tabs) - 1)]
    return starts, np.where((after < len(tabs)) & (tab < ends), tab, ends)


def _short_keys(chunk: bytes, lines: list[bytes], starts: NDArray[np.int64], ends: NDArray[np.int64],
                key_of: Callable[[bytes], bytes] | None) -> NDArray[np.int64]:
    """Keys of up to SHORT_KEY bytes as themselves (zero-padded, length last); longer ones hashed and marked."""
    padded = np.frombuffer(chunk + bytes(16), np.uint8)
    lengths = ends - starts
    packed = np.lib.stride_tricks.sliding_window_view(padded, 16)[starts]  # 16 bytes from each key's start
    packed *= np.arange(16, dtype=np.uint8) < np.minimum(lengths, 16)[:, None]
    packed[:, SHORT_KEY] = np.minimum(lengths, 255)
    lanes = packed.view(np.int64)
    long = np.flatnonzero(lengths > SHORT_KEY)
    if len(long) and key_of is not None:
        lanes[long] = _marked(_lanes([key_of(lines[row]) for row in long.tolist()]))
    return lanes


def _first_keys(chunk: bytes, lines: list[bytes], key_of: Callable[[bytes], bytes]) -> NDArray[np.int64]:
    """Keys in the first field, as _short_keys makes them, from the 16 bytes at each row's start only: the key
    ends at the first tab or newline among them, or is longer than SHORT_KEY and hashed."""
    lengths = np.fromiter(map(len, lines), np.int64, len(lines)) + 1
    starts = np.cumsum(lengths) - lengths
    padded = np.frombuffer(chunk + bytes(16), np.uint8)
    packed = np.lib.stride_tricks.sliding_window_view(padded, 16)[starts]
    stops = (packed == TAB) | (packed == NEWLINE)
    size = np.argmax(stops, axis=1)
    size[~stops[np.arange(len(size)), size]] = 16  # no end among the 16 bytes: a long key
    packed *= np.arange(16, dtype=np.uint8) < size[:, None]
    packed[:, SHORT_KEY] = size
    lanes: NDArray[np.int64] = packed.view(np.int64)
    long = np.flatnonzero(size > SHORT_KEY)
    if len(long):
        lanes[long] = _marked(_lanes([key_of(lines[row]) for row in long.tolist()]))
    return lanes


def rows_of(chunk: bytes) -> list[bytes]:
    """A chunk's rows without their newlines."""
    lines = chunk.split(b"\n")
    lines.pop()
    return lines


_SPREAD_0, _SPREAD_1 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


def bucket_of(records: Records) -> NDArray[np.int64]:
    """A record's bucket: the top bits of both lanes of its matching digest mixed by multiplication (a short
    key is its own bytes, so its own top bits would put every small number in one bucket)."""
    lanes = records[:, :2].view(np.uint64)
    mixed = lanes[:, 0] * _SPREAD_0 + lanes[:, 1] * _SPREAD_1
    return (mixed >> np.uint64(64 - BUCKET_BITS)).astype(np.int64)


def _parted(records: Records) -> tuple[Records, NDArray[np.int64]]:
    """The records ordered by bucket (a radix sort on one byte) and where each bucket starts (BUCKETS + 1 bounds)."""
    which = bucket_of(records).astype(np.uint8)
    order = np.argsort(which, kind="stable")
    bounds = np.zeros(BUCKETS + 1, np.int64)
    np.cumsum(np.bincount(which, minlength=BUCKETS), out=bounds[1:])
    return records[order], bounds


@dataclass
class _Table:
    number: int
    width: int = LANES
    held: list[list[Records]] = field(default_factory=lambda: [[] for _ in range(BUCKETS)])
    files: dict[int, Path] = field(default_factory=dict)
    rows: int = 0


class DigestStore:
    """One side's digests per table and bucket, in memory up to `budget` bytes, then appended to bucket files
    under `folder`."""

    def __init__(self, folder: Path, name: str, budget: int) -> None:
        self._folder = folder
        self._name = name
        self._budget = budget
        self._held_bytes = 0
        self._tables: dict[str, _Table] = {}
        self.spilled_bytes = 0

    def _entry(self, table: str) -> _Table:
        entry = self._tables.get(table)
        if entry is None:
            entry = self._tables[table] = _Table(len(self._tables))
        return entry

    def add(self, table: str, records: Records) -> None:
        entry = self._entry(table)
        entry.rows += len(records)
        if not len(records):
            return
        entry.width = records.shape[1]
        parted, bounds = _parted(records)
        for bucket in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
            entry.held[bucket].append(parted[bounds[bucket]:bounds[bucket + 1]])
        self._held_bytes += records.nbytes
        if self._held_bytes > self._budget:
            self._spill()

    def count(self, table: str, rows: int) -> None:
        """Rows of a table that are counted, not compared."""
        self._entry(table).rows += rows

    def touch(self, table: str) -> None:
        """Record that the table has data here (possibly no rows)."""
        self._entry(table)

    def has(self, table: str) -> bool:
        return table in self._tables

    def rows(self, table: str) -> int:
        entry = self._tables.get(table)
        return entry.rows if entry else 0

    def _spill(self) -> None:
        for entry in self._tables.values():
            for bucket, parts in enumerate(entry.held):
                if not parts:
                    continue
                path = entry.files.setdefault(bucket, self._folder / f"{self._name}-{entry.number}-{bucket}.bin")
                _append(path, parts)
                self.spilled_bytes += sum(part.nbytes for part in parts)
                parts.clear()
        self._held_bytes = 0

    def spilled(self, table: str) -> bool:
        entry = self._tables.get(table)
        return bool(entry and entry.files)

    def buckets(self, table: str, split: bool) -> Iterator[Records]:
        """The table's records bucket by bucket (all at once if not `split`), held ones and spilled ones together."""
        entry = self._tables.get(table) or _Table(-1)
        if not split:
            parts = [part for held in entry.held for part in held]
            yield np.concatenate(parts) if parts else np.zeros((0, entry.width), np.int64)
            return
        for bucket, held in enumerate(entry.held):
            path = entry.files.get(bucket)
            parts = [*held, _load(path, entry.width)] if path is not None else held
            yield np.concatenate(parts) if parts else np.zeros((0, entry.width), np.int64)

    def release(self, table: str) -> None:
        entry = self._tables.get(table)
        if entry is not None:
            for held in entry.held:
                self._held_bytes -= sum(part.nbytes for part in held)
                held.clear()
            for path in entry.files.values():
                path.unlink(missing_ok=True)
            entry.files.clear()


def _append(path: Path, parts: list[Records]) -> None:
    try:
        with open(path, "ab") as out:
            for part in parts:
                _write(out, part)
    except OSError as exc:
        raise from_os_error("writing", str(path), exc) from exc


def _write(out: BinaryIO, records: Records) -> None:
    out.write(np.ascontiguousarray(records).data)


def _load(path: Path, width: int) -> Records:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise from_os_error("reading", str(path), exc) from exc
    return np.frombuffer(data, np.int64).reshape(-1, width)
