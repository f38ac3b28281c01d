"""The helper thread that makes a table's chunks ahead of the caller: order, errors where they happened, early stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from recovery_console.engine.forensics.read_ahead import DEPTH, ReadAhead
from recovery_console.errors import IntegrityError


def test_chunks_come_in_order_and_the_helper_ends_with_them():
    ahead = ReadAhead(iter([b"%d\n" % i for i in range(100)]))
    assert list(ahead) == [b"%d\n" % i for i in range(100)]
    assert not any(t.name.startswith("rc-read-ahead") and t.is_alive() for t in threading.enumerate())


def test_an_error_is_raised_after_the_chunks_before_it():
    def damaged() -> Iterator[bytes]:
        yield b"1\n"
        yield b"2\n"
        raise IntegrityError("damaged at byte 42")

    ahead = ReadAhead(damaged())
    assert next(ahead) == b"1\n" and next(ahead) == b"2\n"
    with pytest.raises(IntegrityError, match="byte 42"):
        next(ahead)


def test_closing_early_stops_the_helper_and_leaves_the_rest_unread():
    made: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            made.append(1)
            yield b"x\n"

    source = endless()
    ahead = ReadAhead(source)
    assert next(ahead) == b"x\n"
    ahead.close()
    assert len(made) <= DEPTH + 3  # bounded: the helper never ran far ahead
    assert next(source) == b"x\n"  # and the caller's thread may go on with the stream
    with pytest.raises(StopIteration):
        next(ahead)
