"""A child's pipe read ahead on a thread (engine/pg/pipe_ahead.py): the same bytes in order, bounded memory, and
`close` ends the thread once the child has ended."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time

from recovery_console.engine.pg.pipe_ahead import PIECE, PipeAhead

WRITER = "import sys\nfor i in range({n}): sys.stdout.buffer.write(bytes([i % 251]) * 100_003)\n"


def child(n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER.format(n=n)], stdout=subprocess.PIPE)


def expected(n: int) -> str:
    return hashlib.sha256(b"".join(bytes([i % 251]) * 100_003 for i in range(n))).hexdigest()


def test_the_reader_gets_every_byte_in_order_in_whole_pieces():
    proc = child(120)
    assert isinstance(proc.stdout, io.BufferedReader)
    ahead = PipeAhead(proc.stdout)
    digest, sizes = hashlib.sha256(), []
    while block := ahead.read(4 * PIECE):
        digest.update(block)
        sizes.append(len(block))
    assert digest.hexdigest() == expected(120) and proc.wait() == 0
    assert set(sizes[:-1]) == {PIECE}, "whole pieces but the last"
    ahead.close()


def test_it_holds_at_most_depth_pieces_and_stops_when_the_child_is_stopped():
    proc = child(200)  # 20 MB, more than 2 pieces and the pipe
    assert isinstance(proc.stdout, io.BufferedReader)
    ahead = PipeAhead(proc.stdout, depth=2)
    time.sleep(0.5)
    assert proc.poll() is None, "the child waits: nobody read, and only two pieces may wait"
    assert len(ahead.read()) == PIECE
    proc.kill()
    proc.wait()
    ahead.close()
    assert not ahead._thread.is_alive()


def test_narrowed_it_holds_fewer_pieces_once_the_reader_has_drained_below():
    proc = child(300)  # 30 MB
    assert isinstance(proc.stdout, io.BufferedReader)
    ahead = PipeAhead(proc.stdout, depth=8)
    time.sleep(0.5)
    assert len(ahead._queue._pieces) == 8, "a deep queue filled while nobody read"
    ahead.narrow(2)  # as a backup does once it reads
    for _ in range(8):
        assert len(ahead.read()) == PIECE
    time.sleep(0.5)
    assert len(ahead._queue._pieces) == 2, "after narrowing, only two pieces wait"
    proc.kill()
    proc.wait()
    ahead.close()
