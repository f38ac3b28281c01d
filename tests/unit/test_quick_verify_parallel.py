"""The quick verify opens chunks on several threads, yet reports the first bad chunk in file order and still
stops when cancelled."""

from __future__ import annotations

import io
import os

import pytest

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container import verify as verify_module
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.progress import Reporter
from recovery_console.errors import Cancelled, IntegrityError
from recovery_console.models.backup import BackupMetadata

SECRET = "parallel quick verify"
EXPONENT = 10
CHUNKS = 40
METADATA = BackupMetadata(backup_id="1a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", created_at="2024-02-03T04:05:06Z",
                          app_version="0.1.0", compression="none")


@pytest.fixture(scope="module")
def backup() -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(os.urandom(CHUNKS << EXPONENT)), out, SECRET, METADATA, iterations=1000,
                   chunk_exponent=EXPONENT)
    return out.getvalue()


@pytest.fixture(autouse=True)
def four_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "QUICK_WORKERS", 4)


def record_starts(data: bytes) -> list[int]:
    """Offset of every record's length prefix: 0 metadata, 1..CHUNKS payload, then the end record."""
    starts, offset = [], fmt.PREAMBLE_SIZE
    while offset < len(data):
        starts.append(offset)
        offset += fmt.LENGTH_PREFIX_SIZE + int.from_bytes(data[offset:offset + 4], "big")
    return starts


def test_an_intact_backup_passes(backup: bytes) -> None:
    report = read_stream(io.BytesIO(backup), SECRET, full=False, hash_ciphertext=False)
    assert report.payload_chunks == CHUNKS


@pytest.mark.parametrize("bad", [(5, 9), (9, 5), (2, 3, 4, 30), (CHUNKS, 1)])
def test_the_first_bad_chunk_in_file_order_is_reported(backup: bytes, bad: tuple[int, ...]) -> None:
    data = bytearray(backup)
    starts = record_starts(backup)
    for index in bad:
        data[starts[index] + fmt.LENGTH_PREFIX_SIZE + 7] ^= 0x40
    with pytest.raises(IntegrityError) as caught:
        read_stream(io.BytesIO(bytes(data)), SECRET, full=False, hash_ciphertext=False)
    assert f"Chunk {min(bad)} failed authentication" in caught.value.message


def test_a_cancelled_quick_verify_stops(backup: bytes) -> None:
    reporter = Reporter()
    seen = []

    def cancel_after_a_few(progress: object) -> None:
        seen.append(progress)
        if len(seen) == 3:
            reporter.token.cancel()

    reporter.sink = cancel_after_a_few
    reporter.min_interval = 0.0
    with pytest.raises(Cancelled):
        read_stream(io.BytesIO(backup), SECRET, full=False, hash_ciphertext=False, reporter=reporter)
