"""The end-of-backup record read from a backup's tail alone: the archive's length without decrypting the payload.

Every payload chunk but the last is full (docs/FORMAT.md), so the file's size says how many chunks
it holds and thus the record's index; the record is authenticated like any chunk.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.reader import open_backup
from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.errors import IntegrityError

RECORD_SIZE = fmt.LENGTH_PREFIX_SIZE + fmt.SENTINEL_SIZE + fmt.TAG_SIZE


def read_end_record(open_at: Callable[[int], ReadableFile], size: int, secret: str) -> fmt.Sentinel:
    """The sealed end record of a `size`-byte backup; `open_at(offset)` opens the file from that byte on."""
    with open_at(0) as stream:
        opened = open_backup(stream, secret)
    payload = size - opened.payload_offset - RECORD_SIZE
    if payload < 0:
        raise IntegrityError(f"The backup is truncated: its {size} bytes leave no room for its end-of-backup record.")
    chunks = -(-payload // (fmt.LENGTH_PREFIX_SIZE + opened.header.chunk_size + fmt.TAG_SIZE))
    with open_at(size - RECORD_SIZE) as stream:
        raw = _read_all(stream, RECORD_SIZE)
    sealed = raw[fmt.LENGTH_PREFIX_SIZE:]
    if len(raw) != RECORD_SIZE or int.from_bytes(raw[:fmt.LENGTH_PREFIX_SIZE], "big") != len(sealed):
        raise IntegrityError("The backup does not end with an end-of-backup record: it was cut short or appended to.")
    try:
        plain = AESGCM(opened.keys.payload_key).decrypt(fmt.nonce(chunks + 1, True), sealed, opened.header.pack())
    except InvalidTag:
        raise IntegrityError("The backup's last record is not its end-of-backup record: the file is damaged or "
                             "was altered.") from None
    sentinel = fmt.Sentinel.parse(plain)
    if sentinel.payload_chunks != chunks:
        raise IntegrityError(f"The end-of-backup record expects {sentinel.payload_chunks} chunks; the file's size "
                             f"allows {chunks}.")
    return sentinel


def _read_all(stream: ReadableFile, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = stream.read(n - len(data))
        if not piece:
            break
        data += piece
    return data
