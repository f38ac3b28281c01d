#!/usr/bin/env python3
"""Deterministic generator of the backup-format test vectors described in docs/FORMAT.md.

    python tests/vectors/make_vectors.py          # rewrite tests/vectors/*.enc and vectors.json
    python tests/vectors/make_vectors.py --check  # exit 1 if the committed files differ

Good vectors are written by the project's own writer (`encrypt_stream`) with a fixed secret,
salt and metadata, so they are byte-for-byte reproducible. Bad vectors are made from good ones
by byte-level edits (in the style of age's CCTV stream vectors) or, where an attacker would
need the key, crafted from the primitives in `recovery_console.engine.container.format`.

tests/unit/test_vectors.py re-runs `build_vectors()` in memory and asserts the committed bytes
are identical, so the code, the vectors and the spec cannot drift apart silently.

NEVER copy the fixed salts below into real code: a salt must be fresh and random per file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.models.backup import BackupMetadata

HERE = Path(__file__).resolve().parent
INDEX_NAME = "vectors.json"

SECRET = "correct horse battery staple"
WRONG_SECRET = "correct horse battery stapler"
NON_ASCII_SECRET = "pässwörd · 秘密 · 🔑"  # NFC; encoded as UTF-8 without any normalisation
SALT = bytes.fromhex("101112131415161718191a1b1c1d1e1f")
OTHER_SALT = bytes.fromhex("202122232425262728292a2b2c2d2e2f")
ITERATIONS = 1000
CHUNK_EXPONENT = 10  # the minimum: 1 KiB chunks keep multi-chunk vectors tiny

METADATA = BackupMetadata(
    backup_id="0f1e2d3c-4b5a-4697-8877-665544332211",
    created_at="2024-05-06T07:08:09Z",
    app_version="0.1.0",
    mode="manual",
    description="test vector",
    database="recovery_sample",
    server_version="16.3",
    pg_dump_version="16.3",
    compression="none",
    source="pg_dump",
    source_name=None,
    created_by="make_vectors",
)

# Plaintexts too long to list as hex are given as Python expressions (evaluated with
# `hashlib` in scope); vectors.json carries the expression, the length and the SHA-256.
GEN_ONE_CHUNK = "bytes(range(256)) * 4"
GEN_CHUNK_PLUS_ONE = "bytes(range(256)) * 4 + b'\\x00'"
GEN_TWO_FULL_CHUNKS = "bytes(range(256)) * 8"
GEN_SEVERAL_CHUNKS = "bytes(range(256)) * 14"
GEN_REPETITIVE = "bytes(range(256)) * 40"
GEN_INCOMPRESSIBLE = "b''.join(hashlib.sha256(i.to_bytes(4, 'big')).digest() for i in range(80))"
HEX_LIMIT = 64  # plaintexts up to this many bytes are listed as hex


def evaluate(expression: str) -> bytes:
    """The plaintext a `plaintext_python` expression in vectors.json stands for."""
    value = eval(expression, {"__builtins__": {"bytes": bytes, "range": range}, "hashlib": hashlib})  # noqa: S307
    assert isinstance(value, bytes)
    return value


@dataclass(frozen=True)
class Vector:
    name: str
    description: str
    data: bytes
    expected: str  # "ok" or the error class name
    plaintext: bytes  # good: the decoded archive; bad: the archive the file was made from
    secret: str = SECRET  # the secret to decode with
    salt: bytes = SALT
    iterations: int = ITERATIONS
    chunk_exponent: int = CHUNK_EXPONENT
    compression: str = "none"
    plaintext_python: str | None = None
    error_contains: str | None = None
    metadata_json: str | None = None  # good vectors: the exact decrypted record 0

    @property
    def file_name(self) -> str:
        return f"{self.name}.enc"

    def index_entry(self) -> dict:
        entry: dict = {
            "name": self.name,
            "description": self.description,
            "file": self.file_name,
            "file_size": len(self.data),
            "file_sha256": hashlib.sha256(self.data).hexdigest(),
            "secret": self.secret,
            "secret_utf8_hex": self.secret.encode("utf-8").hex(),
            "salt": self.salt.hex(),
            "iterations": self.iterations,
            "chunk_exponent": self.chunk_exponent,
            "compression": self.compression,
        }
        if self.plaintext_python is not None:
            assert evaluate(self.plaintext_python) == self.plaintext
            entry["plaintext_python"] = self.plaintext_python
        else:
            assert len(self.plaintext) <= HEX_LIMIT
            entry["plaintext_hex"] = self.plaintext.hex()
        entry["plaintext_length"] = len(self.plaintext)
        entry["plaintext_sha256"] = hashlib.sha256(self.plaintext).hexdigest()
        entry["expected"] = self.expected
        if self.error_contains is not None:
            entry["error_contains"] = self.error_contains
        if self.metadata_json is not None:
            entry["metadata"] = self.metadata_json
        return entry


# --- primitives for crafting files an attacker without the key could not make --------------


def header_for(salt: bytes = SALT, iterations: int = ITERATIONS, chunk_exponent: int = CHUNK_EXPONENT) -> fmt.Header:
    return fmt.Header(iterations=iterations, chunk_exponent=chunk_exponent, salt=salt)


def seal_record(key: bytes, header: fmt.Header, index: int, plaintext: bytes, final: bool) -> bytes:
    """One record: uint32 BE length (plaintext + tag) ‖ AES-256-GCM(nonce(index, final), aad=header)."""
    sealed = AESGCM(key).encrypt(fmt.nonce(index, final), plaintext, header.pack())
    return len(sealed).to_bytes(fmt.LENGTH_PREFIX_SIZE, "big") + sealed


def assemble(secret: str, header: fmt.Header, records: list[tuple[bytes, bool]]) -> bytes:
    """Header ‖ commitment ‖ records sealed at indices 0, 1, 2, … with the given final flags."""
    keys = fmt.derive_keys(secret, header)
    out = bytearray(header.pack() + keys.commitment)
    for index, (plaintext, final) in enumerate(records):
        out += seal_record(keys.payload_key, header, index, plaintext, final)
    return bytes(out)


def natural_records(metadata: BackupMetadata, chunk_size: int, archive: bytes) -> list[tuple[bytes, bool]]:
    """The records an honest writer emits for an uncompressed archive."""
    meta = replace(metadata, chunk_size=chunk_size, compression="none").to_json()
    chunks = [archive[i : i + chunk_size] for i in range(0, len(archive), chunk_size)]
    sentinel = fmt.Sentinel(len(chunks), len(archive), len(archive), hashlib.sha256(archive).digest())
    return [(meta, False)] + [(chunk, False) for chunk in chunks] + [(sentinel.pack(), True)]


def write_backup(
    archive: bytes,
    *,
    secret: str = SECRET,
    salt: bytes = SALT,
    iterations: int = ITERATIONS,
    chunk_exponent: int = CHUNK_EXPONENT,
    compression: str = "none",
    metadata: BackupMetadata = METADATA,
) -> bytes:
    out = io.BytesIO()
    encrypt_stream(
        io.BytesIO(archive),
        out,
        secret,
        replace(metadata, compression=compression),
        iterations=iterations,
        chunk_exponent=chunk_exponent,
        salt=salt,
    )
    return out.getvalue()


def split_records(data: bytes) -> tuple[bytes, list[bytes]]:
    """Preamble (header ‖ commitment) and the records, each with its length prefix."""
    preamble, rest, records = data[: fmt.PREAMBLE_SIZE], data[fmt.PREAMBLE_SIZE :], []
    while rest:
        length = int.from_bytes(rest[:4], "big")
        records.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return preamble, records


def join(preamble: bytes, records: list[bytes]) -> bytes:
    return preamble + b"".join(records)


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def set_bytes(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def metadata_json(data: bytes, secret: str = SECRET) -> str:
    """Record 0 of a good vector, decrypted with the primitives (for the index)."""
    header = fmt.Header.parse(data[: fmt.HEADER_SIZE])
    keys = fmt.derive_keys(secret, header)
    _, records = split_records(data)
    raw = AESGCM(keys.payload_key).decrypt(fmt.nonce(0, False), records[0][4:], header.pack())
    return raw.decode("utf-8")


# --- the vectors ---------------------------------------------------------------------------


def _good(name: str, description: str, plaintext: bytes, generator: str | None = None, **params) -> Vector:
    data = write_backup(plaintext, **params)
    secret = params.get("secret", SECRET)
    return Vector(
        name=name,
        description=description,
        data=data,
        expected="ok",
        plaintext=plaintext,
        plaintext_python=generator,
        metadata_json=metadata_json(data, secret),
        **params,
    )


def build_vectors() -> list[Vector]:
    """Every vector, in index order; pure and deterministic."""
    vectors: list[Vector] = []
    add = vectors.append
    chunk = 1 << CHUNK_EXPONENT

    # Good vectors ------------------------------------------------------------------------
    add(_good("good_empty", "Empty archive: metadata record, zero payload records, sentinel.", b""))
    add(_good("good_one_byte", "One-byte archive: a single 1-byte payload record.", b"\x2a"))
    add(_good("good_one_chunk", "Archive of exactly one chunk (1024 bytes).", evaluate(GEN_ONE_CHUNK), GEN_ONE_CHUNK))
    add(_good("good_chunk_plus_one", "Chunk + 1 byte: a full payload record then a 1-byte one.",
              evaluate(GEN_CHUNK_PLUS_ONE), GEN_CHUNK_PLUS_ONE))
    two_full = _good("good_two_full_chunks", "Exactly two full chunks: the last payload record is full, not short.",
                     evaluate(GEN_TWO_FULL_CHUNKS), GEN_TWO_FULL_CHUNKS)
    add(two_full)
    base = _good("good_several_chunks", "Four payload records (3 x 1024 + 512 bytes); the base of most bad vectors.",
                 evaluate(GEN_SEVERAL_CHUNKS), GEN_SEVERAL_CHUNKS)
    add(base)
    add(_good("good_zstd", "zstd compression: a repetitive 10240-byte archive "
              "compresses into one payload record.",
              evaluate(GEN_REPETITIVE), GEN_REPETITIVE, compression="zstd"))
    add(_good("good_zstd_multichunk", "zstd compression of incompressible data: "
              "the zstd frame spans 3 payload records.",
              evaluate(GEN_INCOMPRESSIBLE), GEN_INCOMPRESSIBLE, compression="zstd"))
    add(_good("good_zstd_empty", "zstd compression of an empty archive: "
              "one payload record holding an empty zstd frame.",
              b"", compression="zstd"))
    add(_good("good_non_ascii_secret", "Non-ASCII secret: PBKDF2 takes its UTF-8 bytes, no Unicode normalisation.",
              "héllo wörld ✓".encode(), secret=NON_ASCII_SECRET))
    add(_good("good_default_iterations", "The real default KDF work: 600000 PBKDF2 iterations.",
              b"default iterations", iterations=fmt.DEFAULT_ITERATIONS))
    future = replace(METADATA, extra={"x_future_field": {"nested": [1, 2, 3]}})
    add(Vector(
        name="good_unknown_metadata_field",
        description="Record 0 carries a field this version does not know; readers must ignore it.",
        data=write_backup(b"future", metadata=future),
        expected="ok",
        plaintext=b"future",
        metadata_json=metadata_json(write_backup(b"future", metadata=future)),
    ))

    # Consistency of the crafting primitives with the writer.
    header = header_for()
    records = natural_records(METADATA, chunk, base.plaintext)
    assert assemble(SECRET, header, records) == base.data, "crafting primitives disagree with encrypt_stream"
    meta_rec, payload_recs, sentinel_rec = records[0], records[1:-1], records[-1]
    sentinel = fmt.Sentinel.parse(sentinel_rec[0])

    def bad(name: str, description: str, data: bytes, expected: str, contains: str,
            source: Vector = base, **params) -> None:
        add(Vector(name=name, description=description, data=data, expected=expected, error_contains=contains,
                   plaintext=source.plaintext, plaintext_python=source.plaintext_python,
                   compression=source.compression, **params))

    pre, recs = split_records(base.data)  # recs[0] metadata, recs[1..4] payload, recs[5] sentinel
    assert len(recs) == 6

    # Stream structure (age CCTV style) -----------------------------------------------------
    bad("stream_no_final", "The sentinel record is removed; the file ends after the last payload record.",
        join(pre, recs[:-1]), "IntegrityError", "truncated")
    bad("stream_two_final_chunks", "A second, valid final record (the sentinel sealed at index 6) "
        "follows the sentinel.",
        assemble(SECRET, header, records + [sentinel_rec]), "IntegrityError", "after its end")
    bad("stream_final_flag_on_payload", "The last payload record is sealed with the final flag, then the sentinel.",
        assemble(SECRET, header, [meta_rec] + payload_recs[:-1] + [(payload_recs[-1][0], True), sentinel_rec]),
        "IntegrityError", "end-of-backup record")
    full_records = natural_records(METADATA, chunk, two_full.plaintext)
    size, digest = len(two_full.plaintext), hashlib.sha256(two_full.plaintext).digest()
    bad("stream_last_chunk_empty",
        "After two full payload records comes an empty (16-byte, tag-only) payload record, "
        "then a sentinel counting it.",
        assemble(SECRET, header,
                 full_records[:-1] + [(b"", False), (fmt.Sentinel(3, size, size, digest).pack(), True)]),
        "IntegrityError", "Chunk 3", source=two_full)
    short_first = [meta_rec, (base.plaintext[:512], False), (base.plaintext[512:1536], False),
                   (base.plaintext[1536:2560], False), (base.plaintext[2560:], False), sentinel_rec]
    bad("stream_short_chunk_not_last", "Payload records of 512, 1024, 1024, 1024 bytes: "
        "a short record before the last.",
        assemble(SECRET, header, short_first), "IntegrityError", "short chunk")
    bad("stream_trailing_garbage_short", "One zero byte appended after the sentinel record.",
        base.data + b"\x00", "IntegrityError", "after its end")
    bad("stream_trailing_garbage_long", "1044 bytes (a whole record's worth) of garbage appended after the sentinel.",
        base.data + hashlib.sha256(b"garbage").digest() * 32 + b"\x00" * 20, "IntegrityError", "after its end")
    bad("stream_trailing_record_copy", "A byte-exact copy of payload record 1 appended after the sentinel record.",
        base.data + recs[1], "IntegrityError", "after its end")
    second_tag_end = len(pre) + len(recs[0]) + len(recs[1]) + len(recs[2]) - 1
    bad("stream_bad_tag_second_chunk", "The last byte of payload record 2's tag has one bit flipped.",
        flip(base.data, second_tag_end), "IntegrityError", "Chunk 2 failed authentication")
    bad("stream_bad_body_first_chunk", "The first ciphertext byte of payload record 1 has one bit flipped.",
        flip(base.data, len(pre) + len(recs[0]) + 4), "IntegrityError", "Chunk 1 failed authentication")
    bad("stream_missing_tag", "The sentinel record's 16-byte tag is cut off (file ends 16 bytes early).",
        base.data[:-16], "IntegrityError", "truncated")
    cut = len(pre) + sum(map(len, recs[:3])) + 2
    bad("stream_cut_in_length", "The file ends 2 bytes into payload record 3's length prefix.",
        base.data[:cut], "IntegrityError", "truncated")
    bad("stream_header_only", "Header and commitment only: no metadata record.",
        pre, "IntegrityError", "truncated")
    bad("stream_cut_in_commitment", "The file ends 40 bytes in, inside the key commitment.",
        base.data[:40], "IntegrityError", "truncated")
    bad("stream_length_too_large", "Payload record 1 declares 1041 bytes (chunk_size + 16 + 1).",
        set_bytes(base.data, len(pre) + len(recs[0]), (chunk + 17).to_bytes(4, "big")),
        "IntegrityError", "impossible length")
    bad("stream_length_too_small", "Payload record 1 declares 15 bytes, shorter than a tag.",
        set_bytes(base.data, len(pre) + len(recs[0]), (15).to_bytes(4, "big")),
        "IntegrityError", "impossible length")

    # Chunk order (STREAM counter) --------------------------------------------------------------
    bad("chunks_swapped", "Payload records 1 and 2 swapped.",
        join(pre, [recs[0], recs[2], recs[1], *recs[3:]]), "IntegrityError", "Chunk 1 failed authentication")
    bad("chunk_duplicated", "Payload record 2 appears twice in a row.",
        join(pre, [*recs[:3], recs[2], *recs[3:]]), "IntegrityError", "Chunk 3 failed authentication")
    bad("chunk_dropped", "Payload record 2 removed.",
        join(pre, [*recs[:2], *recs[3:]]), "IntegrityError", "Chunk 2 failed authentication")
    bad("chunk_dropped_sentinel_kept", "Last payload record removed and the sentinel moved up (cut + re-appended end).",
        join(pre, [*recs[:4], recs[5]]), "IntegrityError", "Chunk 4 failed authentication")
    _, other = split_records(write_backup(base.plaintext, salt=OTHER_SALT))
    bad("chunk_spliced", "Payload record 2 replaced by record 2 of another backup of the same archive, "
        "same secret, other salt.", join(pre, [*recs[:2], other[2], *recs[3:]]),
        "IntegrityError", "Chunk 2 failed authentication")
    bad("metadata_swapped_with_payload", "Metadata record and payload record 1 swapped.",
        join(pre, [recs[1], recs[0], *recs[2:]]), "IntegrityError", "Chunk 0 failed authentication")

    # Header (32 clear bytes) -------------------------------------------------------------------
    bad("header_bad_magic", "Magic byte 0 changed ('R' -> 'S').",
        set_bytes(base.data, 0, b"S"), "IntegrityError", "not a Recovery Console backup")
    bad("header_version_unsupported", "Format version byte set to 2.",
        set_bytes(base.data, 6, b"\x02"), "UnsupportedError", "format version 2")
    bad("header_kdf_unsupported", "KDF identifier byte set to 2.",
        set_bytes(base.data, 7, b"\x02"), "UnsupportedError", "key-derivation function 2")
    bad("header_iterations_zero", "Iterations field set to 0.",
        set_bytes(base.data, 8, (0).to_bytes(4, "big")), "IntegrityError", "iterations")
    bad("header_iterations_absurd", "Iterations field set to 2^32 - 1; must be refused before any KDF work.",
        set_bytes(base.data, 8, b"\xff\xff\xff\xff"), "IntegrityError", "iterations")
    bad("header_iterations_over_cap", "Iterations field set to 10000001, one above the decoder's cap.",
        set_bytes(base.data, 8, (fmt.MAX_ITERATIONS + 1).to_bytes(4, "big")), "IntegrityError", "iterations")
    bad("header_chunk_exponent_small", "Chunk exponent set to 9 (below the minimum 10).",
        set_bytes(base.data, 12, b"\x09"), "IntegrityError", "chunk size")
    bad("header_chunk_exponent_large", "Chunk exponent set to 27 (above the maximum 26).",
        set_bytes(base.data, 12, b"\x1b"), "IntegrityError", "chunk size")
    bad("header_reserved_set", "Reserved byte 13 set to 0x01.",
        set_bytes(base.data, 13, b"\x01"), "IntegrityError", "reserved")
    bad("header_salt_altered", "One bit of the salt flipped: the commitment no longer matches.",
        flip(base.data, 16), "WrongKeyError", "secret does not open")
    bad("header_iterations_altered", "Iterations changed from 1000 to 1001 (in range): "
        "the commitment no longer matches.",
        set_bytes(base.data, 8, (1001).to_bytes(4, "big")), "WrongKeyError", "secret does not open")
    bad("header_chunk_exponent_altered", "Chunk exponent changed from 10 to 11 (in range): the commitment no longer "
        "matches.", set_bytes(base.data, 12, b"\x0b"), "WrongKeyError", "secret does not open")
    bad("commitment_bad", "The last byte of the key commitment has one bit flipped (age hmac_bad).",
        flip(base.data, fmt.PREAMBLE_SIZE - 1), "WrongKeyError", "secret does not open")
    bad("wrong_secret", f"A good file decoded with the wrong secret {WRONG_SECRET!r}.",
        base.data, "WrongKeyError", "secret does not open", secret=WRONG_SECRET)
    bad("empty_file", "A zero-byte file.", b"", "IntegrityError", "too short")
    bad("short_file", "A 31-byte file: the header prefix only.", base.data[:31], "IntegrityError", "too short")

    # Crafted with the key: the sentinel and record 0 must still be checked --------------------
    def with_sentinel(new: fmt.Sentinel | bytes) -> bytes:
        raw = new.pack() if isinstance(new, fmt.Sentinel) else new
        return assemble(SECRET, header, [meta_rec, *payload_recs, (raw, True)])

    bad("sentinel_count_mismatch", "The sentinel claims 3 payload records; 4 are present.",
        with_sentinel(replace(sentinel, payload_chunks=3)), "IntegrityError", "chunks are missing or extra")
    bad("sentinel_length_mismatch", "The sentinel's payload length is 1 byte too large.",
        with_sentinel(replace(sentinel, payload_length=sentinel.payload_length + 1)),
        "IntegrityError", "chunks are missing or extra")
    bad("sentinel_archive_hash_mismatch", "The sentinel's archive SHA-256 has one bit flipped (a faulty writer).",
        with_sentinel(replace(sentinel, archive_sha256=flip(sentinel.archive_sha256, 0))),
        "IntegrityError", "does not match the hash sealed")
    bad("sentinel_archive_length_mismatch", "The sentinel's archive length is 1 byte too large.",
        with_sentinel(replace(sentinel, archive_length=sentinel.archive_length + 1)),
        "IntegrityError", "does not match the hash sealed")
    bad("sentinel_bad_magic", "The sentinel's magic reads RCBKEND2.",
        with_sentinel(b"RCBKEND2" + sentinel_rec[0][8:]), "IntegrityError", "signature")
    bad("sentinel_wrong_size", "The final record holds 63 bytes instead of 64.",
        with_sentinel(sentinel_rec[0][:63]), "IntegrityError", "wrong size")
    bad("metadata_final_flag", "Record 0 is sealed with the final flag set.",
        assemble(SECRET, header, [(meta_rec[0], True), *payload_recs, sentinel_rec]),
        "IntegrityError", "Chunk 0 failed authentication")

    def with_metadata(raw: bytes) -> bytes:
        return assemble(SECRET, header, [(raw, False), *payload_recs, sentinel_rec])

    def compact(obj: dict) -> bytes:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    meta_dict = json.loads(meta_rec[0])
    bad("metadata_not_json", "Record 0 decrypts to bytes that are not JSON.",
        with_metadata(b"not json"), "IntegrityError", "not valid JSON")
    bad("metadata_not_utf8", "Record 0 decrypts to invalid UTF-8.",
        with_metadata(b'{"backup_id":"\xff"}'), "IntegrityError", "not valid JSON")
    bad("metadata_not_object", "Record 0 decrypts to a JSON array.",
        with_metadata(b"[]"), "IntegrityError", "not a JSON object")
    missing = {k: v for k, v in meta_dict.items() if k != "created_at"}
    bad("metadata_missing_field", "Record 0 lacks the required field created_at.",
        with_metadata(compact(missing)),
        "IntegrityError", "created_at")
    bad("metadata_unknown_compression", "Record 0 names compression 'lz4'.",
        with_metadata(compact({**meta_dict, "compression": "lz4"})),
        "IntegrityError", "unknown compression")
    too_long = compact({**meta_dict, "description": ""})
    too_long = compact({**meta_dict, "description": "x" * (chunk + 1 - len(too_long))})
    assert len(too_long) == chunk + 1
    bad("metadata_too_long", "Record 0 is 1025 bytes of valid JSON, more than min(chunk_size, 65536) = 1024.",
        with_metadata(too_long), "IntegrityError", "impossible length")

    names = [v.name for v in vectors]
    assert len(names) == len(set(names)), "duplicate vector names"
    return vectors


def build_index(vectors: list[Vector]) -> str:
    index = {
        "format": "Recovery Console backup, format version 1 (docs/FORMAT.md)",
        "generator": "tests/vectors/make_vectors.py",
        "notes": [
            "file: the vector's bytes, in this folder; file_sha256 is the SHA-256 of that file.",
            "secret: the secret to decode with (secret_utf8_hex: its exact bytes for PBKDF2).",
            "salt, iterations, chunk_exponent, compression: what the file was written with, before any tampering.",
            "plaintext_hex, or plaintext_python (a Python expression with `hashlib` in scope): for expected 'ok' the "
            "archive a decoder must output; otherwise the archive the file was made from (a decoder may release at "
            "most a prefix of it before failing).",
            "expected: 'ok', or the class of error a conforming decoder reports (FORMAT.md, 'Decoding'); "
            "error_contains: a substring of the reference implementation's message.",
            "metadata: for 'ok' vectors, the exact UTF-8 text of record 0.",
        ],
        "vectors": [v.index_entry() for v in vectors],
    }
    return json.dumps(index, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = parser.parse_args(argv)
    vectors = build_vectors()
    index = build_index(vectors)
    wanted = {v.file_name: v.data for v in vectors}
    wanted[INDEX_NAME] = index.encode("utf-8")
    if args.check:
        stale = [name for name, data in wanted.items()
                 if not (HERE / name).exists() or (HERE / name).read_bytes() != data]
        extra = sorted(p.name for p in HERE.glob("*.enc") if p.name not in wanted)
        for name in stale:
            print(f"differs: {name}", file=sys.stderr)
        for name in extra:
            print(f"not generated: {name}", file=sys.stderr)
        return 1 if stale or extra else 0
    for path in HERE.glob("*.enc"):
        if path.name not in wanted:
            path.unlink()
    for name, data in wanted.items():
        (HERE / name).write_bytes(data)
    total = sum(len(d) for d in wanted.values())
    print(f"wrote {len(vectors)} vectors and {INDEX_NAME} ({total:,} bytes) to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
