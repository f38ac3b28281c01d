"""PBKDF2 runs once per (secret, salt, iterations) in a process, even when two threads ask at once."""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import threading
import time

import pytest

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.reader import derive_keys_ahead, open_backup
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.models.backup import BackupMetadata

SECRET = "derivation secret"


@pytest.fixture
def pbkdf2_calls(monkeypatch):
    """Every PBKDF2 actually computed, slowed down so that callers overlap; the memo starts empty."""
    calls: list[bytes] = []
    real = fmt.hashlib.pbkdf2_hmac

    def slow(name: str, secret: bytes, salt: bytes, iterations: int, length: int) -> bytes:
        calls.append(salt)
        time.sleep(0.2)
        return real(name, secret, salt, iterations, length)

    monkeypatch.setattr(fmt.hashlib, "pbkdf2_hmac", slow)
    monkeypatch.setattr(fmt, "_derivations", type(fmt._derivations)())
    return calls


def header(salt: bytes = b"s" * fmt.SALT_SIZE) -> fmt.Header:
    return fmt.Header(iterations=1000, chunk_exponent=fmt.MIN_CHUNK_EXPONENT, salt=salt)


def test_a_derivation_under_way_is_waited_for_not_repeated(pbkdf2_calls):
    results: list[fmt.FileKeys] = []
    threads = [threading.Thread(target=lambda: results.append(fmt.derive_keys(SECRET, header()))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pbkdf2_calls) == 1
    assert len(results) == 3 and results[0] == results[1] == results[2]


def test_another_salt_or_secret_is_derived_afresh(pbkdf2_calls):
    first = fmt.derive_keys(SECRET, header())
    assert fmt.derive_keys(SECRET, header(b"t" * fmt.SALT_SIZE)) != first
    assert fmt.derive_keys("other secret", header()) != first
    assert len(pbkdf2_calls) == 3


def test_a_failed_derivation_is_not_remembered(pbkdf2_calls, monkeypatch):
    working = fmt.hashlib.pbkdf2_hmac
    monkeypatch.setattr(fmt.hashlib, "pbkdf2_hmac", lambda *args: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(MemoryError):
        fmt.derive_keys(SECRET, header())
    monkeypatch.setattr(fmt.hashlib, "pbkdf2_hmac", working)
    fmt.derive_keys(SECRET, header())
    assert len(pbkdf2_calls) == 1


def test_only_the_most_recent_derivations_are_kept(pbkdf2_calls, monkeypatch):
    monkeypatch.setattr(fmt, "DERIVATIONS_KEPT", 2)
    salts = [bytes([n]) * fmt.SALT_SIZE for n in range(3)]
    for salt in salts:
        fmt.derive_keys(SECRET, header(salt))
    fmt.derive_keys(SECRET, header(salts[2]))
    fmt.derive_keys(SECRET, header(salts[0]))
    assert pbkdf2_calls == [salts[0], salts[1], salts[2], salts[0]]


def backup_bytes() -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(b"archive bytes" * 100), out, SECRET, BackupMetadata(backup_id="b", created_at="t",
                   app_version="0"), iterations=1000, chunk_exponent=fmt.MIN_CHUNK_EXPONENT)
    return out.getvalue()


def test_keys_derived_ahead_are_the_ones_the_reader_uses(pbkdf2_calls):
    data = backup_bytes()
    pbkdf2_calls.clear()
    fmt._derivations.clear()  # as in a fresh process
    derive_keys_ahead(lambda: io.BytesIO(data), SECRET)
    opened = open_backup(io.BytesIO(data), SECRET)
    assert opened.metadata.backup_id == "b"
    assert len(pbkdf2_calls) == 1


def test_deriving_ahead_leaves_a_failure_to_the_reader(pbkdf2_calls):
    def unreadable() -> io.BytesIO:
        raise OSError("gone")

    derive_keys_ahead(unreadable, SECRET)
    derive_keys_ahead(lambda: io.BytesIO(b"not a backup"), SECRET)
    for thread in threading.enumerate():
        if thread.name == "rc-derive-key":
            thread.join()
    assert pbkdf2_calls == []


def test_the_restore_engine_loads_the_database_driver_only_when_it_connects():
    """So that the backup's key derivation can already run while psycopg (~0.15 s) loads."""
    probe = "import sys, recovery_console.engine.restore; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}).stdout
    assert out.strip() == "False"


def test_a_writer_given_the_salt_derived_ahead_uses_that_derivation(pbkdf2_calls):
    salt = b"w" * fmt.SALT_SIZE
    fmt.derive_ahead(SECRET, salt, 1000)
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(b"archive bytes" * 100), out, SECRET, BackupMetadata(backup_id="b", created_at="t",
                   app_version="0"), iterations=1000, chunk_exponent=fmt.MIN_CHUNK_EXPONENT, salt=salt)
    assert pbkdf2_calls == [salt]  # derived once, ahead
    assert fmt.Header.parse(out.getvalue()[:fmt.HEADER_SIZE]).salt == salt
    assert open_backup(io.BytesIO(out.getvalue()), SECRET).metadata.backup_id == "b"  # it opens with that key
    assert pbkdf2_calls == [salt]


def test_pg_dump_may_run_a_mebibyte_ahead_of_its_reader():
    from recovery_console.engine.pg import pgdump

    read_end, write_end = os.pipe()
    try:
        pgdump._widen(read_end)
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) == pgdump.PIPE_SIZE
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_source_keeps_flowing_while_the_key_is_derived(pbkdf2_calls, monkeypatch):
    """Chunks are held until the key is there (pg_dump does not stall on a full pipe), then sealed in order."""
    events: list[str] = []
    real = fmt.hashlib.pbkdf2_hmac

    def slow(name: str, secret: bytes, salt: bytes, iterations: int, length: int) -> bytes:
        time.sleep(0.3)
        events.append("key derived")
        return real(name, secret, salt, iterations, length)

    monkeypatch.setattr(fmt.hashlib, "pbkdf2_hmac", slow)
    payload = os.urandom(3 << 20)

    class Source(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            data = super().read(size)
            if not data:
                events.append("source read to its end")
            return data

    out = io.BytesIO()
    encrypt_stream(Source(payload), out, SECRET, BackupMetadata(backup_id="b", created_at="t", app_version="0"),
                   iterations=1000, chunk_exponent=fmt.MIN_CHUNK_EXPONENT)
    assert events == ["source read to its end", "key derived"]
    opened = open_backup(io.BytesIO(out.getvalue()), SECRET)
    assert opened.metadata.backup_id == "b"
    from recovery_console.engine.container.verify import read_stream

    decrypted = io.BytesIO()
    read_stream(io.BytesIO(out.getvalue()), SECRET, sink=decrypted, require_archive=False)
    assert decrypted.getvalue() == payload
