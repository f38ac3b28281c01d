"""The row counter a restore tees the archive into: same counts as a direct walk, bounded memory, never a hang."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from recovery_console.engine.archive import pgarchive as pa
from recovery_console.engine.archive import rowcount
from recovery_console.engine.archive.rowcount import Handoff, RowCounter
from recovery_console.errors import IntegrityError, RecoveryError

DATA = Path(__file__).resolve().parents[1] / "data"


def test_handoff_delivers_every_byte_in_order_whatever_the_write_and_read_sizes() -> None:
    payload = os.urandom(10_000)
    handoff = Handoff(piece=7, depth=3)
    received = bytearray()

    def consume() -> None:
        sizes = [1, 3, 50, 7, 1000]
        while piece := handoff.read(sizes[len(received) % len(sizes)]):
            received.extend(piece)

    reader = threading.Thread(target=consume)
    reader.start()
    offset = 0
    for size in [1, 6, 7, 8, 100, 0, 2500]:
        handoff.write(memoryview(payload)[offset:offset + size])
        offset += size
    handoff.write(payload[offset:])
    handoff.close()
    reader.join(10)
    assert bytes(received) == payload
    assert handoff.read(5) == b"" and handoff.read() == b""


def test_handoff_read_all_and_readinto() -> None:
    handoff = Handoff(piece=4, depth=10)
    handoff.write(b"0123456789")
    handoff.close()
    buf = bytearray(3)
    assert handoff.readinto(buf) == 3 and buf == b"012"
    assert handoff.read() == b"3456789"


def test_handoff_holds_the_writer_while_depth_pieces_wait_unread() -> None:
    handoff = Handoff(piece=4, depth=2)
    writer = threading.Thread(target=handoff.write, args=(b"x" * 16,))
    writer.start()
    writer.join(0.3)
    assert writer.is_alive(), "four pieces went into a queue two deep"
    assert handoff.read(4) == b"xxxx"
    assert handoff.read(100) == b"xxxx"
    writer.join(5)
    assert not writer.is_alive()


@pytest.mark.parametrize("name", ["sample-pg15", "sample-pg17-zstd", "sample-pg18-none"])
def test_row_counter_agrees_with_a_direct_walk(name: str) -> None:
    data = (DATA / f"{name}.dump").read_bytes()
    archive = pa.parse_archive(data)
    expected = rowcount.count_copy_rows(io.BytesIO(data), archive)
    counter = RowCounter()
    view = memoryview(data)
    step = 3001
    for start in range(0, len(data), step):
        counter.write(bytes(view[start:start + step]) if start % 2 else view[start:start + step])
    assert counter.result() == expected
    assert expected


def test_row_counter_reports_a_truncated_archive() -> None:
    data = (DATA / "sample-pg18-none.dump").read_bytes()
    archive = pa.parse_archive(data)
    counter = RowCounter()
    counter.write(data[: archive.toc_end + (len(data) - archive.toc_end) // 2])
    with pytest.raises(IntegrityError, match="truncated"):
        counter.result()


def test_a_stream_that_is_no_archive_fails_without_holding_up_the_writer() -> None:
    counter = RowCounter()
    for _ in range(8):
        counter.write(b"\x00" * (1 << 20))
    with pytest.raises(RecoveryError):
        counter.result()


def test_row_counter_forwards_an_archive_that_reads_the_same() -> None:
    data = (DATA / "sample-pg18-none.dump").read_bytes()
    archive = pa.parse_archive(data)
    out = io.BytesIO()
    counter = RowCounter(forward=out)
    for start in range(0, len(data), 1000):
        counter.write(data[start:start + 1000])
    assert counter.result() == rowcount.count_copy_rows(io.BytesIO(data), archive)
    assert out.getvalue() == data  # its TOC records data offsets, so no chunk may move


class _ClosedPipe(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_forward_that_fails_is_reported_without_holding_up_the_writer() -> None:
    data = (DATA / "sample-pg18-none.dump").read_bytes()
    counter = RowCounter(forward=_ClosedPipe())
    counter.write(data)
    for _ in range(8):
        counter.write(b"\x00" * (1 << 20))
    with pytest.raises(RecoveryError, match="writing the decrypted archive: Broken pipe"):
        counter.result()
