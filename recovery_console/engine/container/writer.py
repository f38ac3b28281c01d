"""Streaming encryption: any byte stream in, a backup file's bytes out, no plaintext written anywhere."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recovery_console.engine.background import in_background
from recovery_console.engine.container import format as fmt
from recovery_console.engine.io_protocols import ReadableStream, WritableStream
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.errors import UsageError, from_os_error
from recovery_console.models.backup import BackupMetadata

if TYPE_CHECKING:
    from _hashlib import HASH

ZSTD_LEVEL = 3
ZSTD_JOB_SIZE = 2 << 20  # per-thread jobs of 2 MiB: zstd's default (8 MiB at level 3) costs ~40 MB more RSS, no speed


@dataclass(frozen=True)
class EncryptResult:
    """What the writer produced: the sentinel it sealed and the ciphertext's own size and hash."""

    metadata: BackupMetadata
    sentinel: fmt.Sentinel
    encrypted_size: int
    encrypted_sha256: str


class _HashingSink:
    """Writes to the sink while hashing and counting the ciphertext, for the sidecar."""

    def __init__(self, sink: WritableStream) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        try:
            self.sink.write(data)
        except OSError as exc:
            raise from_os_error("writing", "the backup", exc) from exc
        self.sha.update(data)
        self.size += len(data)


def _read_blocks(source: ReadableStream, size: int) -> Iterator[bytes]:
    while True:
        try:
            block = source.read(size)
        except OSError as exc:
            raise from_os_error("reading", "the source", exc) from exc
        if not block:
            return
        yield block


def _payload_chunks(blocks: Iterator[bytes], compression: str, chunk_size: int,
                    archive_sha: HASH, level: int = ZSTD_LEVEL) -> Iterator[bytes]:
    """Hash the archive bytes and cut the (optionally zstd-compressed) payload into exact chunks."""
    if compression == "zstd":
        params = zstandard.ZstdCompressionParameters.from_level(level, threads=-1, job_size=ZSTD_JOB_SIZE)
        chunker = zstandard.ZstdCompressor(compression_params=params).chunker(chunk_size=chunk_size)
        for block in blocks:
            archive_sha.update(block)
            yield from chunker.compress(block)
        yield from chunker.finish()  # type: ignore[no-untyped-call]  # unannotated in zstandard's stub
        return
    pending = bytearray()
    for block in blocks:
        archive_sha.update(block)
        pending += block
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


def encrypt_stream(
    source: ReadableStream,
    sink: WritableStream,
    secret: str,
    metadata: BackupMetadata,
    *,
    reporter: Reporter | None = None,
    source_size: int | None = None,
    iterations: int = fmt.DEFAULT_ITERATIONS,
    chunk_exponent: int = fmt.DEFAULT_CHUNK_EXPONENT,
    salt: bytes | None = None,
    zstd_level: int = ZSTD_LEVEL,
) -> EncryptResult:
    """Encrypt `source` into `sink` chunk by chunk; metadata.chunk_size is filled in from the header.
    `zstd_level` is the compressor's level when metadata.compression is "zstd" (not recorded: any decodes)."""
    if metadata.compression not in ("none", "zstd"):
        raise UsageError(f"Unknown compression {metadata.compression!r}; choose none or zstd.")
    reporter = reporter or Reporter()
    if salt is not None and len(salt) != fmt.SALT_SIZE:
        raise UsageError(f"A backup's salt must be {fmt.SALT_SIZE} bytes; got {len(salt)}.")
    header = fmt.Header(iterations=iterations, chunk_exponent=chunk_exponent,
                        salt=os.urandom(fmt.SALT_SIZE) if salt is None else salt)
    fmt.Header.parse(header.pack())
    keys_ahead = in_background(fmt.derive_keys, secret, header, name="rc-derive-key")  # while the source gets going
    metadata = replace(metadata, chunk_size=header.chunk_size)
    meta_bytes = metadata.to_json()
    if len(meta_bytes) > min(fmt.MAX_METADATA_SIZE, header.chunk_size):
        raise UsageError("The backup description is too long to store; shorten it.")

    aad = header.pack()
    out = _HashingSink(sink)
    sealed = bytearray(header.chunk_size + fmt.TAG_SIZE)
    aead: AESGCM | None = None

    def seal(index: int, plaintext: bytes, final: bool) -> None:
        """Seal one chunk; the first call waits for the keys and writes the header and metadata chunk ahead of it."""
        nonlocal aead
        if aead is None:
            keys = keys_ahead.result()
            aead = AESGCM(keys.payload_key)
            out.write(aad + keys.commitment)
            seal(0, meta_bytes, final=False)
        view = memoryview(sealed)[: len(plaintext) + fmt.TAG_SIZE]
        aead.encrypt_into(fmt.nonce(index, final), plaintext, aad, view)
        out.write(len(view).to_bytes(fmt.LENGTH_PREFIX_SIZE, "big"))
        out.write(view)

    reporter.start(Phase.ENCRYPT, source_size)
    archive_sha = hashlib.sha256()
    archive_length = 0
    payload_length = 0
    index = 0
    read_size = min(header.chunk_size, 1 << 20) if metadata.compression == "zstd" else header.chunk_size

    def counted(blocks: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal archive_length
        for block in blocks:
            archive_length += len(block)
            reporter.advance(len(block))
            yield block

    for chunk in _payload_chunks(counted(_read_blocks(source, read_size)), metadata.compression,
                                 header.chunk_size, archive_sha, zstd_level):
        index += 1
        payload_length += len(chunk)
        seal(index, chunk, final=False)

    reporter.check()
    sentinel = fmt.Sentinel(index, payload_length, archive_length, archive_sha.digest())
    seal(index + 1, sentinel.pack(), final=True)
    reporter.finish()
    return EncryptResult(metadata, sentinel, out.size, out.sha.hexdigest())
