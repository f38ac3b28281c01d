"""The export's helper threads: the read-ahead hands over every item in order with its errors, and stops when
its consumer stops; the hashed output writes, hashes and counts every byte in order and reports a sink's error."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_console.engine.forensics import hashed_output
from recovery_console.engine.forensics.hashed_output import HashedOutput
from recovery_console.engine.forensics.read_ahead import read_ahead


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_read_ahead_keeps_order_and_ends() -> None:
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))
    assert "read-ahead" not in _threads()


def test_read_ahead_raises_the_producers_error_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("damaged block")

    got = []
    with pytest.raises(ValueError, match="damaged block"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_read_ahead_stops_its_helper_when_the_consumer_stops_early() -> None:
    produced = []

    def items() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    ahead = read_ahead(items(), depth=2)
    assert [next(ahead) for _ in range(5)] == [0, 1, 2, 3, 4]
    ahead.close()
    assert "read-ahead" not in _threads()
    assert len(produced) < 20  # it ran at most a few items ahead, and stopped


def test_hashed_output_writes_hashes_and_counts_in_order() -> None:
    sink = io.BytesIO()
    pieces = [os.urandom(n) for n in (0, 1, 5000, 300_000, 7)] + [memoryview(b"tail")]
    with HashedOutput(sink, depth=2) as out:
        for piece in pieces:
            out.write(piece)
    whole = b"".join(bytes(p) for p in pieces)
    assert sink.getvalue() == whole
    assert (out.sha.hexdigest(), out.size) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert "hashed-output" not in _threads()


def test_hashed_output_hands_writeback_a_regular_files_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashed_output, "WRITEBACK", 1000)
    data = os.urandom(10_000)
    with open(tmp_path / "out", "wb") as sink, HashedOutput(sink) as out:
        for i in range(0, len(data), 700):
            out.write(data[i:i + 700])
    assert (tmp_path / "out").read_bytes() == data
    assert out.size == len(data)


class _FullDisk:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes | memoryview) -> None:
        if self.written > 10:
            raise OSError(28, "No space left on device")
        self.written += len(data)


def test_hashed_output_raises_the_sinks_error() -> None:
    with pytest.raises(OSError, match="No space left"), HashedOutput(_FullDisk(), depth=1) as out:
        for _ in range(100):
            out.write(b"x" * 8)
    assert "hashed-output" not in _threads()


def test_hashed_output_stops_when_its_writer_fails() -> None:
    sink = io.BytesIO()
    with pytest.raises(RuntimeError, match="conversion failed"), HashedOutput(sink) as out:
        out.write(b"first")
        raise RuntimeError("conversion failed")
    assert "hashed-output" not in _threads()
