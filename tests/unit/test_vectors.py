"""The committed test vectors (tests/vectors/) against the generator, the reader and the spec.

(a) the generator, re-run in memory, reproduces the committed bytes exactly;
(b) the project's reader gives every vector's expected outcome and plaintext;
(c) an independent decoder written from docs/FORMAT.md alone (hashlib, hmac, AES-GCM, zstd; no
    project code) gives the same outcome and plaintext, which shows the spec is sufficient;
(d) the sidecar cases in vectors.json are judged alike by the project and by a reader written from the spec.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recovery_console import errors
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.verify import read_metadata, read_stream

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
SPEC = ROOT / "docs" / "FORMAT.md"


def _load_generator():
    spec = importlib.util.spec_from_file_location("rc_make_vectors", VECTORS / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


make_vectors = _load_generator()
INDEX = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))
ENTRIES = INDEX["vectors"]
GOOD = [e for e in ENTRIES if e["expected"] == "ok"]
ERROR_CLASSES = {"IntegrityError": errors.IntegrityError, "WrongKeyError": errors.WrongKeyError,
                 "UnsupportedError": errors.UnsupportedError, "SecretUnavailableError": errors.SecretUnavailableError}
SIDECARS = INDEX["sidecars"]


def _ids(entries):
    return [e["name"] for e in entries]


def _file(entry) -> bytes:
    return (VECTORS / entry["file"]).read_bytes()


def _plaintext(entry) -> bytes:
    if "plaintext_hex" in entry:
        return bytes.fromhex(entry["plaintext_hex"])
    return make_vectors.evaluate(entry["plaintext_python"])


# --- (a) the committed files are exactly what the generator produces -------------------------


@pytest.fixture(scope="module")
def regenerated():
    return make_vectors.build_vectors()


def test_generator_reproduces_committed_vectors(regenerated):
    committed = sorted(p.name for p in VECTORS.glob("*.enc"))
    assert committed == sorted(v.file_name for v in regenerated), "run tests/vectors/make_vectors.py"
    for vector in regenerated:
        data = (VECTORS / vector.file_name).read_bytes()
        assert data == vector.data, (
            f"{vector.file_name} differs from what the code now writes. If the format changed on purpose, "
            "bump the format version, update docs/FORMAT.md and run tests/vectors/make_vectors.py "
            "(a zstd vector can also change with the zstd library version)."
        )


def test_generator_reproduces_committed_index(regenerated):
    assert (VECTORS / "vectors.json").read_text(encoding="utf-8") == make_vectors.build_index(regenerated)


def test_index_is_consistent_and_small():
    total = 0
    names = set()
    for entry in ENTRIES:
        data = _file(entry)
        total += len(data)
        assert entry["name"] not in names
        names.add(entry["name"])
        assert len(data) == entry["file_size"]
        assert hashlib.sha256(data).hexdigest() == entry["file_sha256"]
        plaintext = _plaintext(entry)
        assert len(plaintext) == entry["plaintext_length"]
        assert hashlib.sha256(plaintext).hexdigest() == entry["plaintext_sha256"]
        assert entry["secret"].encode("utf-8").hex() == entry["secret_utf8_hex"]
        assert entry["expected"] == "ok" or entry["expected"] in ERROR_CLASSES
        assert entry["description"]
    assert total < 1_000_000
    wanted = {"good_empty", "good_one_byte", "good_one_chunk", "good_chunk_plus_one", "good_several_chunks",
              "good_zstd", "good_non_ascii_secret", "good_default_iterations", "stream_no_final",
              "stream_two_final_chunks", "stream_last_chunk_empty", "stream_trailing_garbage_short",
              "stream_trailing_garbage_long", "stream_bad_tag_second_chunk", "stream_missing_tag",
              "stream_cut_in_length", "header_version_unsupported", "header_reserved_set",
              "header_iterations_absurd", "wrong_secret", "sentinel_count_mismatch", "chunks_swapped",
              "chunk_duplicated", "chunk_dropped", "chunk_spliced"}
    assert wanted <= names
    assert any(e["iterations"] == fmt.DEFAULT_ITERATIONS and e["expected"] == "ok" for e in ENTRIES)
    assert any(not e["secret"].isascii() and e["expected"] == "ok" for e in ENTRIES)


def test_spec_names_the_constants():
    """docs/FORMAT.md states the exact constants the code uses."""
    text = SPEC.read_text(encoding="utf-8")
    for value in (fmt.MAGIC.decode(), fmt.SENTINEL_MAGIC.decode(), fmt.PAYLOAD_KEY_INFO.decode(),
                  fmt.COMMITMENT_INFO.decode(), str(fmt.MAX_ITERATIONS),
                  str(fmt.DEFAULT_ITERATIONS), str(fmt.MAX_METADATA_SIZE), "2^88"):
        assert value in text, value
    assert f"{fmt.MIN_CHUNK_EXPONENT} ..= {fmt.MAX_CHUNK_EXPONENT}" in text


def test_spec_worked_example_matches_the_vector():
    """Section 17 of docs/FORMAT.md quotes good_one_byte's intermediate values; they must stay true."""
    text = SPEC.read_text(encoding="utf-8")
    data = (VECTORS / "good_one_byte.enc").read_bytes()
    header = fmt.Header.parse(data[:32])
    ikm = hashlib.pbkdf2_hmac("sha256", make_vectors.SECRET.encode("utf-8"), header.salt, header.iterations, 32)
    keys = fmt.derive_keys(make_vectors.SECRET, header)
    _, records = make_vectors.split_records(data)
    for value in (ikm.hex(), keys.payload_key.hex(), keys.commitment.hex(), records[1].hex()[:8],
                  records[1].hex()[10:], records[2].hex()[8:], hashlib.sha256(data).hexdigest(),
                  make_vectors.metadata_json(data)):
        assert value in text, value
    assert f"The file is {len(data)} bytes" in text


# --- (b) the project's reader ----------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_reader_gives_expected_outcome(entry):
    data = _file(entry)
    plaintext = _plaintext(entry)
    sink = io.BytesIO()
    if entry["expected"] == "ok":
        report = read_stream(io.BytesIO(data), entry["secret"], sink=sink, require_archive=False)
        assert sink.getvalue() == plaintext
        assert report.archive_length == len(plaintext)
        assert report.archive_sha256 == hashlib.sha256(plaintext).hexdigest()
        assert report.encrypted_size == len(data)
        assert report.ciphertext_sha256 == entry["file_sha256"]
        assert report.metadata.to_json().decode("utf-8") == entry["metadata"]
        assert report.metadata.compression == entry["compression"]
        assert report.header.iterations == entry["iterations"]
        assert report.header.salt.hex() == entry["salt"]
        assert report.header.chunk_exponent == entry["chunk_exponent"]
        header, metadata = read_metadata(io.BytesIO(data), entry["secret"])
        assert (header, metadata) == (report.header, report.metadata)
        return
    with pytest.raises(ERROR_CLASSES[entry["expected"]]) as caught:
        read_stream(io.BytesIO(data), entry["secret"], sink=sink, require_archive=False)
    assert type(caught.value) is ERROR_CLASSES[entry["expected"]]
    assert entry["error_contains"] in str(caught.value)
    # Whatever was released before the failure is a prefix of the true archive, never other bytes.
    assert plaintext.startswith(sink.getvalue())
    # The cheap path (header + record 0) fails the same way or yields the untouched metadata.
    try:
        _, metadata = read_metadata(io.BytesIO(data), entry["secret"])
    except errors.RecoveryError:
        pass
    else:
        assert metadata.backup_id == make_vectors.METADATA.backup_id


@pytest.mark.parametrize("entry", GOOD, ids=_ids(GOOD))
def test_good_metadata_is_canonical_json(entry):
    text = entry["metadata"]
    data = json.loads(text)
    assert isinstance(data, dict)
    assert json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    assert data["chunk_size"] == 1 << entry["chunk_exponent"]


# --- (c) an independent decoder written from docs/FORMAT.md ----------------------------------


class RefError(Exception):
    """The reference decoder's rejection: `kind` is the error class FORMAT.md assigns."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(f"{kind}: {why}")
        self.kind = kind


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """RFC 5869 with L = 32 (one HMAC block)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _ref_metadata(raw: bytes, chunk_size: int) -> dict:
    """FORMAT.md 7: record 0 is an I-JSON object whose known fields have their types and allowed values."""

    def unique(pairs: list) -> dict:
        if len({name for name, _ in pairs}) != len(pairs):
            raise RefError("IntegrityError", "duplicate key")
        return dict(pairs)

    def no_constant(word: str) -> float:
        raise RefError("IntegrityError", f"{word} is not JSON")

    def finite(text: str) -> float:
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise RefError("IntegrityError", "number overflows a double")
        return value

    try:
        metadata = json.loads(raw.decode("utf-8"), object_pairs_hook=unique, parse_constant=no_constant,
                              parse_float=finite)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RefError("IntegrityError", "metadata not JSON") from None

    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in [k, *strings(v)]]
        if isinstance(value, list):
            return [s for item in value for s in strings(item)]
        return []

    if any(0xD800 <= ord(c) <= 0xDFFF for text in strings(metadata) for c in text):
        raise RefError("IntegrityError", "unpaired surrogate")
    if not isinstance(metadata, dict):
        raise RefError("IntegrityError", "metadata not an object")
    if not {"backup_id", "created_at", "app_version", "compression", "chunk_size"} <= metadata.keys():
        raise RefError("IntegrityError", "metadata lacks a required field")
    text, text_or_null = (str,), (str, type(None))
    types = {"app_version": text, "backup_id": text, "chunk_size": (int,), "compression": text, "created_at": text,
             "created_by": text_or_null, "database": text_or_null, "description": text, "mode": text,
             "pg_dump_version": text_or_null, "server_version": text_or_null, "source": text,
             "source_name": text_or_null}
    for name, allowed in types.items():
        if name in metadata and (type(metadata[name]) not in allowed):  # JSON true/false are not integers
            raise RefError("IntegrityError", f"{name} has the wrong type")
    values = {"compression": ("none", "zstd"), "mode": ("manual", "scheduled"), "source": ("pg_dump", "file")}
    for name, allowed in values.items():
        if name in metadata and metadata[name] not in allowed:
            raise RefError("IntegrityError", f"{name} not allowed")
    if metadata["chunk_size"] != chunk_size:
        raise RefError("IntegrityError", "chunk_size differs from the header")
    return metadata


def _ref_single_zstd_frame(payload: bytes) -> None:
    """FORMAT.md 10: the payload is exactly one complete zstd frame (RFC 8878 3.1.1), nothing before or after."""
    if payload[:4] != bytes.fromhex("28b52ffd"):
        raise RefError("IntegrityError", "payload does not start with a zstd frame")
    if len(payload) < 5:
        raise RefError("IntegrityError", "zstd frame cut")
    descriptor = payload[4]
    single_segment = descriptor >> 5 & 1
    pos = 5 + (1 - single_segment) + (0, 1, 2, 4)[descriptor & 3] + ((0, 2, 4, 8)[descriptor >> 6] or single_segment)
    while True:
        if pos + 3 > len(payload):
            raise RefError("IntegrityError", "zstd frame cut")
        block = int.from_bytes(payload[pos : pos + 3], "little")
        kind = block >> 1 & 3
        if kind == 3:
            raise RefError("IntegrityError", "reserved block type")
        pos += 3 + (1 if kind == 1 else block >> 3)
        if block & 1:
            break
    pos += 4 if descriptor & 4 else 0
    if pos > len(payload):
        raise RefError("IntegrityError", "zstd frame cut")
    if pos < len(payload):
        raise RefError("IntegrityError", "data after the zstd frame")


def reference_decode(data: bytes, secret: str, released: list[bytes] | None = None) -> tuple[dict, bytes]:
    """Decode a backup per FORMAT.md, 'Decoding'; returns (metadata object, archive bytes)."""
    released = [] if released is None else released

    def integrity(why: str) -> RefError:
        return RefError("IntegrityError", why)

    # Step 0: the secret (FORMAT.md 5) is taken as given, but never empty.
    if not secret:
        raise RefError("SecretUnavailableError", "empty secret")

    # Steps 1-7: the clear header.
    if len(data) < 32:
        raise integrity("too short")
    header = data[:32]
    if header[0:6] != b"RCBKUP":
        raise integrity("magic")
    if header[6] != 1:
        raise RefError("UnsupportedError", "version")
    if header[7] != 1:
        raise RefError("UnsupportedError", "kdf")
    iterations = int.from_bytes(header[8:12], "big")
    if not 1 <= iterations <= 10_000_000:
        raise integrity("iterations")
    exponent = header[12]
    if not 10 <= exponent <= 26:
        raise integrity("chunk exponent")
    if header[13:16] != b"\x00\x00\x00":
        raise integrity("reserved")
    salt = header[16:32]
    chunk_size = 1 << exponent
    # Step 8: commitment present.
    if len(data) < 64:
        raise integrity("truncated in commitment")
    # Steps 9-10: keys, then the commitment, before any decryption.
    ikm = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations, 32)
    payload_key = _hkdf_sha256(ikm, header, b"recovery-console/v1 payload key")
    commitment = _hkdf_sha256(ikm, header, b"recovery-console/v1 key commitment")
    if not hmac.compare_digest(commitment, data[32:64]):
        raise RefError("WrongKeyError", "commitment")
    aead = AESGCM(payload_key)
    pos = 64

    def next_record(max_length: int) -> bytes | None:
        nonlocal pos
        if pos == len(data):
            return None
        if len(data) - pos < 4:
            raise integrity("truncated in length prefix")
        length = int.from_bytes(data[pos : pos + 4], "big")
        if not 16 <= length <= max_length:
            raise integrity("impossible length")
        if len(data) - pos - 4 < length:
            raise integrity("truncated in record")
        body = data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        return body

    def nonce(index: int, final: bool) -> bytes:
        return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")

    # Step 11: record 0, the metadata.
    body = next_record(min(chunk_size, 65536) + 16)
    if body is None:
        raise integrity("truncated before metadata")
    try:
        raw = aead.decrypt(nonce(0, False), body, header)
    except InvalidTag:
        raise integrity("record 0 authentication") from None
    metadata = _ref_metadata(raw, chunk_size)

    # Steps 12-14: payload records, then the final record, then end of file.
    index, count, total, short_seen = 1, 0, 0, False
    while True:
        body = next_record(chunk_size + 16)
        if body is None:
            raise integrity("truncated: no final record")
        try:
            plain, final = aead.decrypt(nonce(index, False), body, header), False
        except InvalidTag:
            try:
                plain, final = aead.decrypt(nonce(index, True), body, header), True
            except InvalidTag:
                raise integrity(f"record {index} authentication") from None
        if final:
            break
        if not plain or short_seen:
            raise integrity("empty payload record, or a short one before the last")
        short_seen = len(plain) < chunk_size
        released.append(plain)
        count, total, index = count + 1, total + len(plain), index + 1
    if len(plain) != 64:
        raise integrity("sentinel size")
    if plain[0:8] != b"RCBKEND1":
        raise integrity("sentinel magic")
    chunks, payload_length, archive_length = (int.from_bytes(plain[o : o + 8], "big") for o in (8, 16, 24))
    archive_sha256 = plain[32:64]
    if (chunks, payload_length) != (count, total):
        raise integrity("sentinel counts")
    if pos != len(data):
        raise integrity("data after the final record")

    # Step 15: the archive.
    payload = b"".join(released)
    if metadata["compression"] == "zstd":
        _ref_single_zstd_frame(payload)
        try:
            archive = zstandard.ZstdDecompressor(max_window_size=1 << 27).stream_reader(io.BytesIO(payload)).read()
        except zstandard.ZstdError:
            raise integrity("zstd") from None
    else:
        archive = payload
    if len(archive) != archive_length or hashlib.sha256(archive).digest() != archive_sha256:
        raise integrity("archive length or hash")
    return metadata, archive


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_reference_decoder_agrees(entry):
    data = _file(entry)
    plaintext = _plaintext(entry)
    released: list[bytes] = []
    if entry["expected"] == "ok":
        metadata, archive = reference_decode(data, entry["secret"], released)
        assert archive == plaintext
        assert json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == entry["metadata"]
        assert metadata["compression"] == entry["compression"]
        return
    with pytest.raises(RefError) as caught:
        reference_decode(data, entry["secret"], released)
    assert caught.value.kind == entry["expected"], caught.value
    if entry["compression"] == "none":
        assert plaintext.startswith(b"".join(released))


# --- (d) the .sha256 sidecars (FORMAT.md 13) -----------------------------------------------------


def _reference_sidecar_ok(text: str, data: bytes) -> bool:
    """First line only: 64 hex digits (any case), a space, a space or '*', a non-empty name that is not checked."""
    lines = text.splitlines()
    line = lines[0].strip() if lines else ""
    digest, sep, name = line[:64], line[64:66], line[66:]
    if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
        return False
    if sep not in ("  ", " *") or not name:
        return False
    return digest.lower() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("case", SIDECARS, ids=_ids(SIDECARS))
def test_sidecars(case):
    from recovery_console.engine.container.streams import parse_sidecar

    data = (VECTORS / case["file"]).read_bytes()
    assert _reference_sidecar_ok(case["text"], data) == (case["expected"] == "ok")
    try:
        matches = parse_sidecar(case["text"].encode("utf-8")) == hashlib.sha256(data).hexdigest()
    except errors.IntegrityError:
        matches = False
    assert matches == (case["expected"] == "ok")


def test_new_decisions_have_vectors():
    """Each point FORMAT.md settles for issue #14 has at least one vector (or sidecar case)."""
    names = {e["name"] for e in ENTRIES} | {c["name"] for c in SIDECARS}
    assert {"wrong_secret_trailing_newline", "empty_secret", "metadata_chunk_size_missing", "metadata_wrong_type",
            "metadata_nan", "metadata_duplicate_key", "metadata_unpaired_surrogate", "metadata_unknown_mode",
            "metadata_unknown_source", "zstd_frame_cut", "zstd_checksum_missing", "zstd_two_frames",
            "zstd_skippable_frame", "zstd_no_payload_records", "zstd_window_too_large", "good_zstd_high_ratio",
            "sidecar_renamed"} <= names
