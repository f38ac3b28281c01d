"""Tamper matrix for the backup container (Tink testModifiedCiphertext / age CCTV style).

Every modification of a small multi-chunk backup must fail with the project's specific error
type and a message naming the cause, and must never release bytes that are not a prefix of the
true archive. Container level only: `read_stream(..., require_archive=False)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import unicodedata
from dataclasses import replace
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container import reader as reader_module
from recovery_console.engine.container.verify import read_metadata, read_stream
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.errors import (
    IntegrityError,
    RecoveryError,
    SecretUnavailableError,
    UnsupportedError,
    WrongKeyError,
)
from recovery_console.models.backup import BackupMetadata

SECRET = "tamper-matrix secret ✓"
SALT = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
OTHER_SALT = bytes.fromhex("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf")
ITERATIONS = 1000
EXPONENT = 10
CHUNK = 1 << EXPONENT
PLAIN = bytes(range(256)) * 18  # 4608 bytes: payload records of 1024 x 4 + 512
METADATA = BackupMetadata(
    backup_id="7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
    created_at="2024-02-03T04:05:06Z",
    app_version="0.1.0",
    description="tamper matrix",
)

AUTH = "failed authentication"
TRUNCATED = "truncated"
AFTER_END = "after its end"
WRONG_KEY = "secret does not open"


def write(plaintext: bytes = PLAIN, *, salt: bytes = SALT, secret: str = SECRET, compression: str = "none") -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, secret, replace(METADATA, compression=compression),
                   iterations=ITERATIONS, chunk_exponent=EXPONENT, salt=salt)
    return out.getvalue()


def split(data: bytes) -> tuple[bytes, list[bytes]]:
    """(header ‖ commitment, [records with their length prefixes])."""
    preamble, rest, records = data[: fmt.PREAMBLE_SIZE], data[fmt.PREAMBLE_SIZE :], []
    while rest:
        length = int.from_bytes(rest[:4], "big")
        records.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return preamble, records


@cache
def base() -> bytes:
    return write()


@cache
def layout() -> tuple[bytes, tuple[bytes, ...], tuple[int, ...]]:
    """Preamble, records (0 metadata, 1-5 payload, 6 sentinel) and each record's start offset."""
    preamble, records = split(base())
    starts = tuple(itertools.accumulate([len(preamble)] + [len(r) for r in records[:-1]]))
    return preamble, tuple(records), starts


def join(preamble: bytes, records) -> bytes:
    return preamble + b"".join(records)


def flipped(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def decode(data: bytes, secret: str = SECRET, sink: io.BytesIO | None = None):
    return read_stream(io.BytesIO(data), secret, sink=sink, require_archive=False)


def expect(data: bytes, cls: type[RecoveryError], *words: str, secret: str = SECRET) -> RecoveryError:
    """Decoding fails with exactly `cls`, a message containing one of `words`, and no foreign output."""
    sink = io.BytesIO()
    with pytest.raises(RecoveryError) as caught:
        decode(data, secret, sink)
    error = caught.value
    assert type(error) is cls, f"{type(error).__name__}: {error}"
    assert any(word in str(error) for word in words), f"{str(error)!r} names none of {words}"
    assert PLAIN.startswith(sink.getvalue()), "bytes other than a prefix of the archive were released"
    return error


def test_base_backup_shape():
    preamble, records, _ = layout()
    assert len(records) == 7
    assert [len(r) for r in records[1:6]] == [4 + CHUNK + 16] * 4 + [4 + 512 + 16]
    assert len(records[6]) == 4 + fmt.SENTINEL_SIZE + fmt.TAG_SIZE
    sink = io.BytesIO()
    report = decode(base(), sink=sink)
    assert sink.getvalue() == PLAIN and report.payload_chunks == 5 and report.chunk_count == 7


# --- header: all 256 bits ---------------------------------------------------------------------


def _header_expectation(bit: int) -> tuple[type[RecoveryError], str]:
    """What the spec says a flip of `bit` (0 = MSB of byte 0) in the 32-byte header must give."""
    byte = bit // 8
    header = bytearray(base()[: fmt.HEADER_SIZE])
    header[byte] ^= 0x80 >> (bit % 8)
    if byte < 6:
        return IntegrityError, "not a Recovery Console backup"
    if byte == 6:
        return UnsupportedError, "format version"
    if byte == 7:
        return UnsupportedError, "key-derivation function"
    if byte < 12:
        in_range = 1 <= int.from_bytes(header[8:12], "big") <= fmt.MAX_ITERATIONS
        return (WrongKeyError, WRONG_KEY) if in_range else (IntegrityError, "iterations")
    if byte == 12:
        in_range = fmt.MIN_CHUNK_EXPONENT <= header[12] <= fmt.MAX_CHUNK_EXPONENT
        return (WrongKeyError, WRONG_KEY) if in_range else (IntegrityError, "chunk size")
    if byte < 16:
        return IntegrityError, "reserved"
    return WrongKeyError, WRONG_KEY  # salt: the key and the commitment both change


@pytest.mark.parametrize("bit", range(fmt.HEADER_SIZE * 8))
def test_header_bit_flip(bit):
    cls, word = _header_expectation(bit)
    data = flipped(base(), bit // 8, 0x80 >> (bit % 8))
    error = expect(data, cls, word)
    if cls is WrongKeyError:
        assert "header" in error.hint  # the user learns a wrong key and an altered header look alike
    with pytest.raises(cls):
        read_metadata(io.BytesIO(data), SECRET)


def test_salt_flips_are_wrong_key_errors():
    assert {_header_expectation(bit)[0] for bit in range(128, 256)} == {WrongKeyError}


@pytest.mark.parametrize("offset", range(fmt.HEADER_SIZE, fmt.PREAMBLE_SIZE))
def test_commitment_byte_altered_is_refused_before_decrypting(offset, monkeypatch):
    opened = []
    real = reader_module.AESGCM
    monkeypatch.setattr(reader_module, "AESGCM", lambda key: opened.append(key) or real(key))
    expect(flipped(base(), offset, 0x5A), WrongKeyError, WRONG_KEY)
    assert opened == [], "a record was decrypted before the key commitment was checked"


# --- records: length prefixes and bodies ----------------------------------------------------


def _record_cases():
    _, records, _ = layout()
    for index, record in enumerate(records):
        for bit in range(32):
            yield pytest.param(index, bit // 8, 0x80 >> (bit % 8), id=f"rec{index}-len-bit{bit}")
        body = len(record) - 4
        for name, pos in (("first", 0), ("middle", body // 2), ("last-ct", body - 17), ("tag0", body - 16),
                          ("tag-last", body - 1)):
            for mask in (0x01, 0x80):
                yield pytest.param(index, 4 + pos, mask, id=f"rec{index}-{name}-{mask:#04x}")


@pytest.mark.parametrize(("index", "pos", "mask"), list(_record_cases()))
def test_record_bit_flip(index, pos, mask):
    data, (_, _records, starts) = base(), layout()
    tampered = flipped(data, starts[index] + pos, mask)
    if pos >= 4:
        expect(tampered, IntegrityError, f"Chunk {index} {AUTH}")
        return
    length = int.from_bytes(tampered[starts[index] : starts[index] + 4], "big")
    limit = min(CHUNK, fmt.MAX_METADATA_SIZE) + 16 if index == 0 else CHUNK + 16
    if not 16 <= length <= limit:
        expect(tampered, IntegrityError, "impossible length")
    elif starts[index] + 4 + length > len(data):
        expect(tampered, IntegrityError, TRUNCATED)
    else:
        expect(tampered, IntegrityError, f"Chunk {index} {AUTH}")


def test_sentinel_body_flips_all_bits():
    """Every bit of the sealed end-of-backup record (body and tag)."""
    data, (_, _records, starts) = base(), layout()
    for offset in range(starts[6] + 4, len(data)):
        for bit in range(8):
            expect(flipped(data, offset, 1 << bit), IntegrityError, f"Chunk 6 {AUTH}")


# --- truncation ---------------------------------------------------------------------------


def test_truncation_at_every_offset():
    data = base()
    failures = []
    for cut in range(len(data)):
        sink = io.BytesIO()
        try:
            decode(data[:cut], sink=sink)
        except IntegrityError as error:
            word = "too short" if cut < fmt.HEADER_SIZE else TRUNCATED
            if word not in str(error) or not PLAIN.startswith(sink.getvalue()):
                failures.append((cut, str(error)))
        except RecoveryError as error:  # pragma: no cover - reported below
            failures.append((cut, f"{type(error).__name__}: {error}"))
        else:  # pragma: no cover
            failures.append((cut, "accepted"))
    assert not failures, failures[:10]


@pytest.mark.parametrize("keep", range(7))
def test_truncation_at_record_boundary(keep):
    """The file cut after `keep` whole records (0 = right after the commitment)."""
    preamble, records, _ = layout()
    error = expect(join(preamble, records[:keep]), IntegrityError, TRUNCATED)
    if keep == 0:
        assert "metadata" in str(error)
    else:
        assert "end-of-backup record" in str(error)


# --- chunk order: reorder, duplicate, drop, splice ---------------------------------------------


def test_payload_permutations():
    preamble, records, _ = layout()
    for order in itertools.permutations(range(1, 6)):
        if order == (1, 2, 3, 4, 5):
            continue
        first_moved = next(pos for pos, index in enumerate(order, start=1) if pos != index)
        expect(join(preamble, [records[0], *(records[i] for i in order), records[6]]),
               IntegrityError, f"Chunk {first_moved} {AUTH}")


@pytest.mark.parametrize("index", range(6))
def test_adjacent_records_swapped(index):
    preamble, records, _ = layout()
    swapped = list(records)
    swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
    expect(join(preamble, swapped), IntegrityError, f"Chunk {index} {AUTH}")


@pytest.mark.parametrize("index", range(7))
def test_record_duplicated(index):
    preamble, records, _ = layout()
    doubled = [*records[: index + 1], records[index], *records[index + 1 :]]
    if index == 6:
        expect(join(preamble, doubled), IntegrityError, AFTER_END)
    else:
        expect(join(preamble, doubled), IntegrityError, f"Chunk {index + 1} {AUTH}")


@pytest.mark.parametrize("index", range(7))
def test_record_dropped(index):
    preamble, records, _ = layout()
    dropped = [*records[:index], *records[index + 1 :]]
    if index == 6:
        expect(join(preamble, dropped), IntegrityError, TRUNCATED)
    else:
        expect(join(preamble, dropped), IntegrityError, f"Chunk {index} {AUTH}")


@pytest.mark.parametrize("index", range(7))
def test_record_spliced_from_another_backup(index):
    """Same secret, same archive, another (random in real life) salt: every record is foreign."""
    preamble, records, _ = layout()
    _, foreign = split(write(salt=OTHER_SALT))
    assert foreign[index] != records[index]
    spliced = [*records[:index], foreign[index], *records[index + 1 :]]
    expect(join(preamble, spliced), IntegrityError, f"Chunk {index} {AUTH}")


def test_splice_under_a_reused_salt_is_caught_by_the_archive_hash():
    """Why the salt must be unique: the same secret and salt give the same key, so a record moved
    between such files at the same index authenticates; only the sealed archive hash catches it."""
    preamble, records, _ = layout()
    other_plain = PLAIN[:2048] + bytes(1024) + PLAIN[3072:]
    _, same_key = split(write(other_plain, salt=SALT))
    spliced = join(preamble, [*records[:3], same_key[3], *records[4:]])
    sink = io.BytesIO()
    with pytest.raises(IntegrityError, match="does not match the hash sealed"):
        decode(spliced, sink=sink)
    # The foreign chunk was released before the end proved the file bad: with a reused salt even the
    # prefix guarantee is gone, which is why writers must draw a fresh random salt for every file.
    assert sink.getvalue() == other_plain


# --- appended data, keys, garbage ------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x10", "record1", "sentinel", "garbage-chunk"],
    ids=["1-byte", "3-bytes", "bare-length", "copy-of-record-1", "copy-of-sentinel", "garbage-chunk"],
)
def test_trailing_data(extra):
    _, records, _ = layout()
    tail = {"record1": records[1], "sentinel": records[6],
            "garbage-chunk": (CHUNK + 16).to_bytes(4, "big") + bytes(CHUNK + 16)}.get(extra, extra)
    sink = io.BytesIO()
    with pytest.raises(IntegrityError, match=AFTER_END):
        decode(base() + tail, sink=sink)
    assert sink.getvalue() == PLAIN  # all of it was released, and still the read failed: discard it


@pytest.mark.parametrize(
    "secret",
    ["another secret", SECRET.upper(), SECRET + " ", SECRET + "\n", SECRET[:-1],
     unicodedata.normalize("NFD", SECRET) + "é", "é"],
)
def test_wrong_secret(secret):
    expect(base(), WrongKeyError, WRONG_KEY, secret=secret)
    with pytest.raises(WrongKeyError):
        read_metadata(io.BytesIO(base()), secret)


def test_secret_is_not_unicode_normalised():
    nfc = "café"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    data = write(b"x", secret=nfc)
    with pytest.raises(WrongKeyError):
        read_stream(io.BytesIO(data), nfd, require_archive=False)


def test_empty_secret_is_secret_unavailable():
    with pytest.raises(SecretUnavailableError):
        decode(base(), secret="")


def test_empty_file():
    expect(b"", IntegrityError, "too short")
    with pytest.raises(IntegrityError, match="too short"):
        read_metadata(io.BytesIO(b""), SECRET)


def _garbage(size: int, seed: bytes = b"garbage") -> bytes:
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))[:size]


@pytest.mark.parametrize("size", [1, 31, 32, 63, 64, 200, 5000])
def test_random_garbage(size):
    expect(_garbage(size), IntegrityError, "too short" if size < fmt.HEADER_SIZE else "not a Recovery Console backup")


def test_garbage_after_a_valid_header():
    expect(base()[: fmt.HEADER_SIZE] + _garbage(4000), WrongKeyError, WRONG_KEY)


def test_garbage_after_a_valid_preamble():
    expect(base()[: fmt.PREAMBLE_SIZE] + _garbage(4000), IntegrityError, "impossible length", AUTH)


@pytest.mark.parametrize("iterations", [0, fmt.MAX_ITERATIONS + 1, 2**31, 2**32 - 1])
def test_absurd_kdf_parameters_cost_nothing(iterations, monkeypatch):
    calls = []
    monkeypatch.setattr(fmt, "_pbkdf2", lambda *args: calls.append(args) or bytes(32))
    data = base()[:8] + iterations.to_bytes(4, "big") + base()[12:]
    expect(data, IntegrityError, "iterations")
    assert calls == [], "key derivation ran on a header the decoder must refuse"


def test_iteration_cap_is_inclusive():
    header = fmt.Header.parse(base()[:8] + fmt.MAX_ITERATIONS.to_bytes(4, "big") + base()[12:32])
    assert header.iterations == fmt.MAX_ITERATIONS


@pytest.mark.parametrize("exponent", [0, 9, 27, 64, 255])
def test_absurd_chunk_exponent(exponent):
    expect(base()[:12] + bytes([exponent]) + base()[13:], IntegrityError, "chunk size")


# --- streaming consumers must discard output on a late failure --------------------------------


def test_sink_receives_only_a_prefix_when_the_last_payload_chunk_is_tampered():
    _, records, starts = layout()
    data = flipped(base(), starts[5] + 10)
    sink = io.BytesIO()
    with pytest.raises(IntegrityError, match=f"Chunk 5 {AUTH}"):
        read_stream(io.BytesIO(data), SECRET, sink=sink, require_archive=False)
    released = sink.getvalue()
    assert PLAIN.startswith(released) and len(released) < len(PLAIN)


def test_sink_receives_everything_yet_read_fails_when_the_sentinel_is_tampered():
    _, _, starts = layout()
    sink = io.BytesIO()
    with pytest.raises(IntegrityError, match=f"Chunk 6 {AUTH}"):
        read_stream(io.BytesIO(flipped(base(), starts[6] + 10)), SECRET, sink=sink, require_archive=False)
    assert sink.getvalue() == PLAIN  # every archive byte was written: only the exception says to discard


def test_read_metadata_does_not_prove_the_payload():
    """read_metadata opens the header and record 0 only; it is not a verification."""
    _, _, starts = layout()
    _, metadata = read_metadata(io.BytesIO(flipped(base(), starts[3] + 10)), SECRET)
    assert metadata.backup_id == METADATA.backup_id


# --- property tests: only RecoveryError, never a foreign plaintext -------------------------------


@contextlib.contextmanager
def _cheap_kdf():
    """Random headers can ask for up to 10^7 PBKDF2 iterations. Any changed header changes the HKDF salt
    and so the commitment, so a stand-in ikm for a foreign (salt, iterations) gives the same verdict."""
    real = fmt._pbkdf2

    def kdf(secret: bytes, salt: bytes, iterations: int) -> bytes:
        if iterations == ITERATIONS:
            return real(secret, salt, iterations)
        return hashlib.sha256(b"stand-in" + secret + salt + iterations.to_bytes(8, "big")).digest()

    fmt._pbkdf2 = kdf
    try:
        yield
    finally:
        fmt._pbkdf2 = real


def _check_only_recovery_errors(data: bytes) -> None:
    sink = io.BytesIO()
    with _cheap_kdf():
        try:
            report = decode(data, sink=sink)
        except RecoveryError:
            assert PLAIN.startswith(sink.getvalue())
        else:
            assert sink.getvalue() == PLAIN
            assert report.archive_sha256 == hashlib.sha256(PLAIN).hexdigest()
        try:
            _, metadata = read_metadata(io.BytesIO(data), SECRET)
        except RecoveryError:
            pass
        else:
            assert metadata == replace(METADATA, chunk_size=CHUNK)


PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(st.binary(max_size=3000))
def test_property_arbitrary_bytes(data):
    _check_only_recovery_errors(data)


@PROPERTY
@given(st.binary(max_size=3000))
def test_property_arbitrary_bytes_after_a_valid_header(tail):
    _check_only_recovery_errors(base()[: fmt.HEADER_SIZE] + tail)


@PROPERTY
@given(st.binary(max_size=3000))
def test_property_arbitrary_bytes_after_a_valid_preamble(tail):
    _check_only_recovery_errors(base()[: fmt.PREAMBLE_SIZE] + tail)


_POSITION = st.integers(min_value=0, max_value=1 << 16)
_MUTATION = st.one_of(
    st.tuples(st.just("flip"), _POSITION, st.integers(0, 7)),
    st.tuples(st.just("truncate"), _POSITION),
    st.tuples(st.just("insert"), _POSITION, st.binary(min_size=1, max_size=48)),
    st.tuples(st.just("delete"), _POSITION, st.integers(1, 80)),
    st.tuples(st.just("set32"), _POSITION, st.integers(0, 2**32 - 1)),
    st.tuples(st.just("move"), _POSITION, _POSITION, st.integers(1, 1100)),
)


def _mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, pos, *args in mutations:
        pos = pos % (len(out) + 1)
        if kind == "flip" and pos < len(out):
            out[pos] ^= 1 << args[0]
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = args[0]
        elif kind == "delete":
            del out[pos : pos + args[0]]
        elif kind == "set32":
            out[pos : pos + 4] = args[0].to_bytes(4, "big")
        elif kind == "move":
            piece = bytes(out[pos : pos + args[1]])
            del out[pos : pos + args[1]]
            target = args[0] % (len(out) + 1)
            out[target:target] = piece
    return bytes(out)


@PROPERTY
@given(st.lists(_MUTATION, min_size=1, max_size=4))
def test_property_mutated_backup(mutations):
    _check_only_recovery_errors(_mutate(base(), mutations))


@PROPERTY
@given(st.lists(st.tuples(_POSITION, st.integers(0, 7)), min_size=1, max_size=8))
def test_property_bit_flips_in_payload_never_pass(flips):
    """Flips confined to records 1..6 can never be accepted (only flips that cancel out)."""
    _, _, starts = layout()
    data = bytearray(base())
    span = len(data) - starts[1]
    for pos, bit in flips:
        data[starts[1] + pos % span] ^= 1 << bit
    if bytes(data) == base():
        return
    sink = io.BytesIO()
    with pytest.raises(IntegrityError):
        decode(bytes(data), sink=sink)
    assert PLAIN.startswith(sink.getvalue())
