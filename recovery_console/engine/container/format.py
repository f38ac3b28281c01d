"""Byte layout of a Recovery Console backup (docs/FORMAT.md): header, keys, nonces, sentinel.

Everything here is pure and deterministic so the spec, the test vectors and the code agree.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recovery_console.errors import IntegrityError, SecretUnavailableError, UnsupportedError, WrongKeyError

MAGIC = b"RCBKUP"
FORMAT_VERSION = 1
KDF_PBKDF2_SHA256 = 1
HEADER_SIZE = 32
COMMITMENT_SIZE = 32
PREAMBLE_SIZE = HEADER_SIZE + COMMITMENT_SIZE
SALT_SIZE = 16
TAG_SIZE = 16
LENGTH_PREFIX_SIZE = 4

DEFAULT_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
DEFAULT_CHUNK_EXPONENT = 23
MIN_CHUNK_EXPONENT = 10
MAX_CHUNK_EXPONENT = 26
MAX_METADATA_SIZE = 65_536
MAX_COUNTER = (1 << 88) - 1
DERIVATIONS_KEPT = 64

PAYLOAD_KEY_INFO = b"recovery-console/v1 payload key"
COMMITMENT_INFO = b"recovery-console/v1 key commitment"

SENTINEL_MAGIC = b"RCBKEND1"
SENTINEL_SIZE = 64

_HEADER = struct.Struct(">6sBBIB3s16s")
_SENTINEL = struct.Struct(">8sQQQ32s")

_derivations: OrderedDict[tuple[bytes, bytes, int], Future[bytes]] = OrderedDict()
_derivations_lock = threading.Lock()


@dataclass(frozen=True)
class Header:
    """The 32 clear bytes at the start of every backup; all of them are bound into every chunk."""

    iterations: int
    chunk_exponent: int
    salt: bytes
    version: int = FORMAT_VERSION
    kdf: int = KDF_PBKDF2_SHA256

    @property
    def chunk_size(self) -> int:
        return 1 << self.chunk_exponent

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.kdf, self.iterations, self.chunk_exponent, b"\0\0\0", self.salt)

    @classmethod
    def parse(cls, data: bytes) -> Header:
        """Decode and sanity-check a header; a crafted one cannot demand unbounded work."""
        if len(data) < HEADER_SIZE:
            raise IntegrityError(
                f"The file is too short to be a backup ({len(data)} bytes; a backup is at least "
                f"{PREAMBLE_SIZE + 2 * (LENGTH_PREFIX_SIZE + TAG_SIZE)} bytes).",
                hint="It may be empty or cut off during transfer; fetch it again from the target.",
            )
        magic, version, kdf, iterations, exponent, reserved, salt = _HEADER.unpack(data[:HEADER_SIZE])
        if magic != MAGIC:
            raise IntegrityError(
                "This is not a Recovery Console backup (its first bytes are not the backup signature).",
                hint="Check that you picked the right file; a plain pg_dump archive is read as such, not as a backup.",
                cli_hint="Check that you picked the right file; a plain pg_dump archive can be read with `contents`.",
            )
        if version != FORMAT_VERSION:
            raise UnsupportedError(
                f"This backup uses format version {version}; this release reads version {FORMAT_VERSION}.",
                hint="Open it with the Recovery Console release that wrote it, or a newer one.",
            )
        if kdf != KDF_PBKDF2_SHA256:
            raise UnsupportedError(
                f"This backup names key-derivation function {kdf}, which this release does not know."
            )
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise IntegrityError(
                f"The header asks for {iterations:,} key-derivation iterations, outside the accepted range "
                f"1–{MAX_ITERATIONS:,}; refusing to spend that work on a file that may be crafted."
            )
        if not MIN_CHUNK_EXPONENT <= exponent <= MAX_CHUNK_EXPONENT:
            raise IntegrityError(f"The header names a chunk size of 2^{exponent} bytes, which no writer produces.")
        if reserved != b"\0\0\0":
            raise IntegrityError("The header's reserved bytes are not zero: the header was altered.")
        return cls(iterations=iterations, chunk_exponent=exponent, salt=salt, version=version, kdf=kdf)


@dataclass(frozen=True)
class FileKeys:
    """The per-file key and the commitment that proves the secret is the right one."""

    payload_key: bytes
    commitment: bytes

    def check(self, stored_commitment: bytes) -> None:
        if not hmac.compare_digest(self.commitment, stored_commitment):
            raise WrongKeyError(
                "The secret does not open this backup.",
                hint=(
                    "Check that you supplied this deployment's instance secret. If you are sure it is right, "
                    "the file's header may have been altered: check the file against its .sha256 sidecar, "
                    "which needs no secret."
                ),
                cli_hint=(
                    "Check that you supplied this deployment's instance secret. If you are sure it is right, "
                    "the file's header may have been altered: run `backup verify --without-key` to check it "
                    "against its .sha256 sidecar."
                ),
            )


def secret_bytes(secret: str) -> bytes:
    """The secret's UTF-8 bytes, exactly as given (docs/FORMAT.md 5); an empty one is no secret (exit 8)."""
    if not secret:
        raise SecretUnavailableError("The instance secret is empty.", hint="Supply the deployment's instance secret.")
    return secret.encode("utf-8")


def _pbkdf2(secret: bytes, salt: bytes, iterations: int) -> bytes:
    """PBKDF2 once per (secret, salt, iterations) in this process: a caller finding the same derivation
    under way on another thread waits for it rather than spending the same fraction of a second again."""
    key = (secret, salt, iterations)
    with _derivations_lock:
        under_way = _derivations.get(key)
        if under_way is None:
            result: Future[bytes] = Future()
            _derivations[key] = result
            while len(_derivations) > DERIVATIONS_KEPT:
                _derivations.popitem(last=False)
        else:
            result = under_way
            _derivations.move_to_end(key)
    if under_way is None:
        try:
            result.set_result(hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, 32))
        except BaseException as exc:  # noqa: BLE001 - handed through the future to every caller waiting on it
            with _derivations_lock:
                if _derivations.get(key) is result:
                    del _derivations[key]
            result.set_exception(exc)
    return result.result()


def derive_ahead(secret: str, salt: bytes, iterations: int = DEFAULT_ITERATIONS) -> None:
    """Run the secret's PBKDF2 for a file about to be written with `salt`, so that the writer's derive_keys
    finds it done or under way (a live backup derives while pg_dump starts, not after)."""
    _pbkdf2(secret_bytes(secret), salt, iterations)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def derive_keys(secret: str, header: Header) -> FileKeys:
    """PBKDF2 the secret with the file's salt, then HKDF (salted by the whole header) into key and commitment."""
    ikm = _pbkdf2(secret_bytes(secret), header.salt, header.iterations)
    packed = header.pack()
    return FileKeys(payload_key=_hkdf(ikm, packed, PAYLOAD_KEY_INFO), commitment=_hkdf(ikm, packed, COMMITMENT_INFO))


def nonce(index: int, final: bool) -> bytes:
    """STREAM nonce: 88-bit big-endian chunk index then a final-chunk flag byte."""
    if not 0 <= index <= MAX_COUNTER:
        raise IntegrityError("The backup has more chunks than the format allows.")
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


@dataclass(frozen=True)
class Sentinel:
    """The end-of-backup record: proves nothing was cut off, and carries the archive's own hash."""

    payload_chunks: int
    payload_length: int
    archive_length: int
    archive_sha256: bytes

    def pack(self) -> bytes:
        return _SENTINEL.pack(
            SENTINEL_MAGIC, self.payload_chunks, self.payload_length, self.archive_length, self.archive_sha256
        )

    @classmethod
    def parse(cls, data: bytes | memoryview) -> Sentinel:
        if len(data) != SENTINEL_SIZE:
            raise IntegrityError("The end-of-backup record has the wrong size: the backup is malformed.")
        magic, chunks, payload_length, archive_length, digest = _SENTINEL.unpack(bytes(data))
        if magic != SENTINEL_MAGIC:
            raise IntegrityError("The end-of-backup record lacks its signature: the backup is malformed.")
        return cls(chunks, payload_length, archive_length, digest)
