"""The in-memory pipe between a vault's tar and its encryption (engine/vault/byte_queue.py)."""

from __future__ import annotations

import threading

import pytest

from recovery_console.engine.vault.byte_queue import ByteQueue


def test_pieces_arrive_whole_in_order_then_the_end():
    queue = ByteQueue(depth=2)
    sent = [bytes([i]) * (i * 1000 + 1) for i in range(50)]

    def write() -> None:
        for piece in sent:
            queue.write(piece)
        queue.close()

    writer = threading.Thread(target=write)
    writer.start()
    got = b"".join(iter(lambda: queue.read(4096), b""))
    writer.join()
    assert got == b"".join(sent)
    assert queue.read(10) == b""


def test_a_read_smaller_than_the_piece_leaves_the_rest_for_the_next():
    queue = ByteQueue()
    queue.write(bytearray(b"abcdef"))
    queue.close()
    assert [queue.read(4), queue.read(4), queue.read(4)] == [b"abcd", b"ef", b""]


def test_a_writer_waiting_on_a_full_queue_is_stopped_when_the_reader_abandons_it():
    queue = ByteQueue(depth=1)
    queue.write(b"first")
    failures: list[BaseException] = []

    def write() -> None:
        try:
            queue.write(b"second")  # waits: the queue is full
        except BrokenPipeError as exc:
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    queue.abandon()
    writer.join(timeout=5)
    assert not writer.is_alive() and len(failures) == 1
    with pytest.raises(BrokenPipeError):
        queue.write(b"later")
    assert queue.read(10) == b""
