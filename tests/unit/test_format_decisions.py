"""The code paths behind the points docs/FORMAT.md settles for issue #14 (the vectors cover the bytes)."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pytest
import zstandard

from recovery_console.cli.main import main
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.zstd_frame import FrameWalker
from recovery_console.engine.state import secret_sources
from recovery_console.engine.state.secret_sources import SecretRequest, normalise_secret, obtain_secret
from recovery_console.errors import ExitCode, IntegrityError, SecretUnavailableError
from recovery_console.models.backup import BackupMetadata

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"
VECTOR_SECRET = "correct horse battery staple"


# --- the secret: one rule for every source ----------------------------------------------------


@pytest.mark.parametrize(("given", "secret"), [
    ("s3cret", "s3cret"), ("s3cret\n", "s3cret"), ("s3cret\r\n", "s3cret"), ("s3cret\r", "s3cret"),
    ("s3cret\n\n", "s3cret\n"), (" s3cret \t", " s3cret \t"), ("a\nb", "a\nb"),
])
def test_every_source_normalises_the_same_way(tmp_path, monkeypatch, given, secret):
    assert normalise_secret(given) == secret
    path = tmp_path / "secret"
    path.write_bytes(given.encode("utf-8"))
    monkeypatch.setenv("RC_TEST_SECRET", given)

    class Store:
        def get(self, scope: str, name: str) -> str:
            return given

    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    got = {
        "file": obtain_secret(SecretRequest(file=path)),
        "env": obtain_secret(SecretRequest(env="RC_TEST_SECRET")),
        "keyring": obtain_secret(SecretRequest(keyring_name="p"), store=Store()),  # type: ignore[arg-type]
        "prompt": obtain_secret(SecretRequest(), prompt=lambda _: given),
    }
    assert got == dict.fromkeys(got, secret)


@pytest.mark.parametrize("given", ["", "\n", "\r\n", "\r"])
def test_a_secret_that_normalises_to_nothing_is_unavailable_from_every_source(tmp_path, monkeypatch, given):
    path = tmp_path / "secret"
    path.write_bytes(given.encode("utf-8"))
    monkeypatch.setenv("RC_TEST_SECRET", given)

    class Store:
        def get(self, scope: str, name: str) -> str:
            return given

    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    for request, kwargs in ((SecretRequest(file=path), {}), (SecretRequest(env="RC_TEST_SECRET"), {}),
                            (SecretRequest(keyring_name="p"), {"store": Store()}),
                            (SecretRequest(), {"prompt": lambda _: given})):
        with pytest.raises(SecretUnavailableError):
            obtain_secret(request, **kwargs)


def test_an_empty_secret_is_exit_code_8_in_the_engine_and_the_cli(capsys, monkeypatch, tmp_path):
    header = fmt.Header(iterations=1000, chunk_exponent=10, salt=bytes(16))
    with pytest.raises(SecretUnavailableError) as caught:
        fmt.derive_keys("", header)
    assert caught.value.exit_code == ExitCode.SECRET_UNAVAILABLE == 8
    monkeypatch.setenv("RC_TEST_SECRET", "\n")
    code = main(["decrypt", str(VECTORS / "good_one_byte.enc"), "-o", str(tmp_path / "out"),
                 "--secret-key-env", "RC_TEST_SECRET"])
    assert code == ExitCode.SECRET_UNAVAILABLE
    assert "Traceback" not in capsys.readouterr().err
    assert secret_sources.normalise_secret("\n") == ""


# --- metadata: I-JSON, checked types and values -------------------------------------------------


def _meta(**changes: object) -> bytes:
    import json

    base = json.loads(BackupMetadata(backup_id="b", created_at="2024-05-06T07:08:09Z", app_version="0.1.0",
                                     chunk_size=1024).to_json())
    base.update(changes)
    return json.dumps(base).encode()


@pytest.mark.parametrize(("raw", "words"), [
    (_meta(x=1).replace(b'"x": 1', b'"x": ' + b"9" * 5000), "not valid JSON"),  # over Python's int-digit limit
    (_meta(x=1).replace(b'"x": 1', b'"x": 1e400'), "too large"),
    (_meta(x=1).replace(b'"x": 1', b'"x": -Infinity'), "not a JSON number"),
    (_meta(x=1).replace(b'"x": 1', b'"x": ' + b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
    (_meta(x=1).replace(b'"x": 1', b'"\\udc00": 1'), "surrogate"),
    (_meta(x=1).replace(b'"x": 1', b'"x": {"a": 1, "a": 2}'), "twice"),
    (_meta(chunk_size=1024.0), "wrong type"),
    (_meta(mode=None), "wrong type"),
    (_meta(source="pg_dumpall"), "unknown source"),
])
def test_metadata_refusals_are_integrity_errors(raw, words):
    with pytest.raises(IntegrityError, match=words):
        BackupMetadata.from_json(raw)


def test_metadata_keeps_a_valid_surrogate_pair_and_unknown_numbers():
    metadata = BackupMetadata.from_json(_meta(description="\U0001f511", x=[1.5, -2, 10**20]))
    assert metadata.description == "\U0001f511" and metadata.extra == {"x": [1.5, -2, 10**20]}


@pytest.mark.parametrize("command", [["backup", "inspect"], ["backup", "verify"], ["decrypt"]])
def test_unpaired_surrogate_metadata_is_a_plain_verify_failure_in_the_cli(capsys, tmp_path, command):
    secret = tmp_path / "secret"
    secret.write_text(VECTOR_SECRET + "\n")
    path = tmp_path / "hostile.enc"
    shutil.copy(VECTORS / "metadata_unpaired_surrogate.enc", path)
    extra = ["-o", str(tmp_path / "out.dump")] if command == ["decrypt"] else []
    code = main([*command, str(path), *extra, "--secret-key-file", str(secret)])
    _, err = capsys.readouterr()
    assert code == ExitCode.VERIFY_FAILED, err
    assert "surrogate" in err and "Traceback" not in err
    assert not (tmp_path / "out.dump").exists()


# --- zstd: one whole frame, walked across any record boundaries --------------------------------


def _frames() -> list[bytes]:
    data = b"".join(i.to_bytes(4, "big") for i in range(50_000)) + bytes(300_000)
    return [
        zstandard.ZstdCompressor(write_checksum=True).compress(data),
        zstandard.ZstdCompressor(write_content_size=False, threads=2).compress(data),
        zstandard.ZstdCompressor(level=1).compress(b""),
    ]


@pytest.mark.parametrize("frame", _frames(), ids=["checksum", "threads-no-content-size", "empty"])
def test_frame_walker_accepts_a_whole_frame_fed_in_any_pieces(frame):
    for piece in (1, 7, 1024, len(frame)):
        walker = FrameWalker()
        for start in range(0, len(frame), piece):
            walker.feed(frame[start : start + piece])
        walker.finish()


@pytest.mark.parametrize("frame", _frames(), ids=["checksum", "threads-no-content-size", "empty"])
def test_frame_walker_refuses_every_cut_and_any_extra_byte(frame):
    for cut in range(len(frame)):
        walker = FrameWalker()
        walker.feed(frame[:cut])
        with pytest.raises(IntegrityError):
            walker.finish()
    walker = FrameWalker()
    with pytest.raises(IntegrityError, match="after the end"):
        walker.feed(frame + b"\x00")


# --- the counter ------------------------------------------------------------------------------


def test_the_counter_allows_2_to_the_88_records_and_no_more():
    assert fmt.MAX_COUNTER == 2**88 - 1
    assert fmt.nonce(2**88 - 1, True) == b"\xff" * 11 + b"\x01"
    with pytest.raises(IntegrityError):
        fmt.nonce(2**88, False)


def test_an_empty_secret_is_refused_before_the_file_is_read():
    from recovery_console.engine.container.verify import read_metadata

    with pytest.raises(SecretUnavailableError):
        read_metadata(io.BytesIO(b"not a backup at all"), "")
