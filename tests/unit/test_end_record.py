"""The end-of-backup record read from a backup's tail alone (engine/container/end_record.py), which the restore
pre-flight uses to size an old backup's data without decrypting its payload; and the recorded database size."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from recovery_console.engine.container.end_record import read_end_record
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.errors import IntegrityError
from recovery_console.models.backup import BackupMetadata

SECRET = "end-record secret"
METADATA = BackupMetadata(backup_id="b", created_at="2026-12-07T00:00:00Z", app_version="0")


def backup(plaintext: bytes, compression: str = "none") -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, SECRET, replace(METADATA, compression=compression),
                   iterations=1000, chunk_exponent=10)
    return out.getvalue()


def opener(data: bytes) -> Callable[[int], io.BytesIO]:
    return lambda offset: io.BytesIO(data[offset:])


@pytest.mark.parametrize("length", [0, 1, 1024, 1025, 4096, 5000])
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_the_tail_gives_the_archive_length_for_any_chunk_count(length: int, compression: str) -> None:
    plain = bytes(range(256)) * (length // 256) + b"x" * (length % 256)
    data = backup(plain, compression)
    assert read_end_record(opener(data), len(data), SECRET).archive_length == length


def test_a_cut_or_extended_file_is_refused() -> None:
    data = backup(b"y" * 3000)
    for damaged in (data[:-1], data + b"\0" * 20, data[:-200]):
        with pytest.raises(IntegrityError):
            read_end_record(opener(damaged), len(damaged), SECRET)


def test_database_size_is_optional_and_typed() -> None:
    old = json.loads(METADATA.to_json())
    assert "database_size" not in old  # an unsized backup's metadata is what it was before the field existed
    assert BackupMetadata.from_json(json.dumps(old).encode()).database_size is None
    sized = replace(METADATA, database_size=606 << 20)
    assert BackupMetadata.from_json(sized.to_json()).database_size == 606 << 20
    with pytest.raises(IntegrityError):
        BackupMetadata.from_json(json.dumps({**old, "database_size": "606 MB"}).encode())
