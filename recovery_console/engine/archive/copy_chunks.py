"""Strips the chunk headers off a run of a data block's chunks in bulk, with numpy.

`pg_dump -Z0`, and so every backup the console compresses itself, writes each COPY row as its own
chunk: Int length (a zero sign byte and four little-endian bytes), then the row, ending in a newline.
Read one by one in Python, two million of them take over a second; fed to pg_restore as they are,
each becomes a CopyData message of its own, which costs pg_restore and the server about as much
again. Here a buffer's chunks are found at once: every chunk is first assumed to start right after
a newline, which one vectorised pass checks against the length in each header; the few chunks that
break the assumption (a header whose length bytes contain a newline, a chunk that holds no or
several rows) are followed by their lengths, one at a time, until the chain meets the assumption
again. Only the chain of lengths from the first header decides where a chunk starts, so the result
is exactly what a chunk-by-chunk walk gives, whatever the payload holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy
    from numpy.typing import NDArray

HEADER = 5  # a zero sign byte and a four-byte length: pg_dump's Int with intSize 4
NEWLINE = 0x0A


@dataclass(frozen=True)
class Run:
    """The payload of whole consecutive chunks and how many input bytes they took."""

    payload: bytes
    consumed: int


FRAMING_ONLY = b"\x00"
"""What `strip_headers(..., payload=False)` gives for a run's payload: the run's framing was checked, its bytes
not kept (a completeness check reads only the framing)."""


def strip_headers(data: bytes, start: int, end: int, payload: bool = True) -> Run:
    """The chunks from `start` (where a chunk header begins) while they lie wholly before `end`.

    Stops before a zero-length chunk (the block's end), a header with a non-zero sign byte, and
    a chunk that reaches past `end`; those are left to the caller's chunk-by-chunk reader.
    Without `payload`, the run is only walked: its payload is FRAMING_ONLY (about half the work).
    """
    before_numpy()
    import numpy as np

    window = np.frombuffer(data, np.uint8, end - start, start)
    heads, stop = _chain(window)
    if not stop:
        return Run(b"", 0)
    if not payload:
        return Run(FRAMING_ONLY, stop)
    keep = np.ones(stop, bool)
    for byte in range(HEADER):  # five scatters cost less than one through a five-times-larger index array
        keep[heads + byte] = False
    return Run(window[:stop][keep].tobytes(), stop)


def _chain(window: NDArray[numpy.uint8]) -> tuple[NDArray[numpy.int64], int]:
    """Where the header of each whole chunk from the window's start begins, and where the last one ends."""
    import numpy as np

    size = len(window)
    if size < HEADER:
        return np.zeros(0, np.int64), 0
    newlines = np.flatnonzero(window == NEWLINE)
    guesses = np.zeros(len(newlines), np.int64)  # a header at the start and after every newline but the last
    guesses[1:] = newlines[:-1] + 1
    at = np.minimum(guesses, size - HEADER)
    fits = ((guesses + HEADER <= newlines) & (window[at] == 0)
            & (_lengths(window, at) == newlines - guesses - (HEADER - 1)))  # the chunk ends at that newline
    misfits = np.flatnonzero(~fits)
    heads: list[NDArray[numpy.int64]] = []
    pos = index = 0  # pos: where the next header is; index: the first guess not before pos
    while True:
        if index < len(guesses) and guesses[index] == pos:
            later = np.searchsorted(misfits, index)
            stop = int(misfits[later]) if later < len(misfits) else len(guesses)
            heads.append(guesses[index:stop])
            pos = int(guesses[stop]) if stop < len(guesses) else int(newlines[-1]) + 1
        if pos + HEADER > size or window[pos] != 0:
            break
        length = int.from_bytes(window[pos + 1 : pos + HEADER].tobytes(), "little")
        if not length or pos + HEADER + length > size:
            break
        heads.append(np.array([pos], np.int64))
        pos += HEADER + length
        index = int(np.searchsorted(guesses, pos))
    return np.concatenate(heads) if heads else np.zeros(0, np.int64), pos


def _lengths(window: NDArray[numpy.uint8], at: NDArray[numpy.int64]) -> NDArray[numpy.int64]:
    """The little-endian four-byte length after the sign byte at each position in `at`."""
    import numpy as np

    value = window[at + 1].astype(np.int64)
    for shift in (1, 2, 3):
        value |= window[at + 1 + shift].astype(np.int64) << (8 * shift)
    return value


def before_numpy() -> None:
    """Call before importing numpy, which is imported on first use (importing it takes ~90 ms): it is told
    not to start BLAS threads, which spin and which nothing here uses."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
