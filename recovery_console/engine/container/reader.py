"""Streaming decryption: check the header and key commitment, then release payload chunks in order.

Reading runs on a producer thread and chunks are decrypted on worker threads into reused
buffers, so the caller's own work (hashing, writing) overlaps with reading and decryption; an
optional further thread hashes the ciphertext. File reads, SHA-256 and `cryptography`'s AES-GCM
on a whole chunk all release the GIL, so several decrypt workers use several cores; their results
are still taken in file order, so the first bad chunk is the one reported. Memory stays bounded by
the few reused buffers, whatever the backup's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recovery_console.engine.background import in_background
from recovery_console.engine.container import format as fmt
from recovery_console.engine.io_protocols import ReadableFile, ReadIntoStream
from recovery_console.engine.progress import Reporter
from recovery_console.engine.timing import span
from recovery_console.errors import IntegrityError, StorageError
from recovery_console.models.backup import BackupMetadata

if TYPE_CHECKING:
    from _hashlib import HASH


@dataclass(frozen=True)
class OpenedBackup:
    """A backup whose header, key commitment and metadata chunk have been checked."""

    header: fmt.Header
    keys: fmt.FileKeys
    metadata: BackupMetadata
    payload_offset: int


def _read_exact(stream: ReadIntoStream, view: memoryview) -> int:
    """Fill `view` from the stream; return how many bytes arrived before EOF."""
    got = 0
    while got < len(view):
        try:
            n = stream.readinto(view[got:])
        except OSError as exc:
            raise StorageError(f"Reading the backup failed: {exc.strerror or exc}.") from exc
        if not n:
            break
        got += n
    return got


def read_preamble(stream: ReadIntoStream) -> tuple[fmt.Header, bytes]:
    """Read the clear header and the stored key commitment (no key needed)."""
    buf = bytearray(fmt.PREAMBLE_SIZE)
    got = _read_exact(stream, memoryview(buf))
    header = fmt.Header.parse(bytes(buf[:got]))
    if got < fmt.PREAMBLE_SIZE:
        raise IntegrityError(f"The backup is truncated: it ends at byte {got}, inside its key commitment.")
    return header, bytes(buf[fmt.HEADER_SIZE:])


class _RecordReader:
    """Reads length-prefixed records and knows where each one sits, for precise error messages."""

    def __init__(self, stream: ReadIntoStream, header: fmt.Header, offset: int) -> None:
        self.stream = stream
        self.limit = header.chunk_size + fmt.TAG_SIZE
        self.offset = offset
        self._prefix = bytearray(fmt.LENGTH_PREFIX_SIZE)

    def read_into(self, index: int, buf: bytearray, limit: int | None = None) -> int | None:
        """Read record `index` into buf; None at a clean end of file."""
        start = self.offset
        got = _read_exact(self.stream, memoryview(self._prefix))
        if got == 0:
            return None
        if got < fmt.LENGTH_PREFIX_SIZE:
            raise IntegrityError(
                f"The backup is truncated: it ends at byte {start + got}, inside chunk {index}'s length."
            )
        length = int.from_bytes(self._prefix, "big")
        if not fmt.TAG_SIZE <= length <= (limit or self.limit):
            raise IntegrityError(
                f"Chunk {index} at byte {start} declares an impossible length ({length} bytes): "
                "the backup is damaged or was altered."
            )
        got = _read_exact(self.stream, memoryview(buf)[:length])
        self.offset = start + fmt.LENGTH_PREFIX_SIZE + got
        if got < length:
            raise IntegrityError(
                f"The backup is truncated: it ends at byte {self.offset}, inside chunk {index} "
                f"({got} of {length} bytes present).",
                hint="Fetch the file again from the target; the copy you have was cut short.",
            )
        return length


def _auth_error(index: int) -> IntegrityError:
    return IntegrityError(
        f"Chunk {index} failed authentication: it was altered, moved, or comes from another backup.",
        hint="Do not restore from this file. Fetch another copy, or verify an older backup.",
    )


def derive_keys_ahead(opener: Callable[[], ReadableFile], secret: str) -> None:
    """Derive a backup's keys on another thread from its header, so the caller's next steps hide the PBKDF2;
    whoever opens the backup meanwhile waits for them. A failure is left for that reader to report."""

    def derive() -> None:
        with opener() as stream:
            header, _ = read_preamble(stream)
        fmt.derive_keys(secret, header)

    in_background(derive, name="rc-derive-key")


def open_backup(stream: ReadIntoStream, secret: str, reporter: Reporter | None = None) -> OpenedBackup:
    """Check header and commitment before decrypting anything, then decrypt the metadata chunk."""
    fmt.secret_bytes(secret)  # an empty secret is refused before a byte is read (docs/FORMAT.md 12, step 0)
    header, commitment = read_preamble(stream)
    with span("key-derivation"):
        keys = fmt.derive_keys(secret, header)
    keys.check(commitment)
    records = _RecordReader(stream, header, fmt.PREAMBLE_SIZE)
    buf = bytearray(fmt.MAX_METADATA_SIZE + fmt.TAG_SIZE)
    length = records.read_into(0, buf, limit=min(records.limit, len(buf)))
    if length is None:
        raise IntegrityError("The backup is truncated: it ends right after its header, before the metadata chunk.")
    try:
        raw = AESGCM(keys.payload_key).decrypt(fmt.nonce(0, False), bytes(buf[:length]), header.pack())
    except InvalidTag:
        raise _auth_error(0) from None
    metadata = BackupMetadata.from_json(raw)
    if metadata.chunk_size != header.chunk_size:
        raise IntegrityError(f"The metadata names a chunk size of {metadata.chunk_size} bytes but the header "
                             f"{header.chunk_size}: the backup is malformed.")
    return OpenedBackup(header, keys, metadata, records.offset)


@dataclass
class _Slot:
    """A reused pair of buffers: one sealed record as read, and its plaintext once opened."""

    sealed: bytearray
    plain: bytearray
    holders: int = 0


_Opened = tuple[_Slot, int, bool]
"""A record opened in its slot: the slot, the plaintext's length, and whether it was the final record."""
_Ready = Future[_Opened] | tuple[_Slot, int, int] | BaseException | None
"""What the reader thread hands on, in file order: a record being opened, one to open (slot, index, length),
the error that stopped reading, or None at the end of the file."""


@dataclass
class PayloadStream:
    """Iterates an opened backup's payload chunks in order; `sentinel` is set once the end is proven.

    With `ciphertext_sha`, every record read from here on (length prefix and sealed bytes, the
    end-of-backup record and anything after it included) is fed to that hash in file order, on a
    thread of its own, so hashing the ciphertext overlaps reading and decrypting instead of
    adding to them. The hash is complete once iteration has ended. `workers=0` decrypts on the
    iterating thread itself (best when it has little else to do per chunk).
    """

    stream: ReadIntoStream
    opened: OpenedBackup
    reporter: Reporter = field(default_factory=Reporter)
    workers: int = 1
    depth: int = 3
    sentinel: fmt.Sentinel | None = None
    chunks: int = 0
    payload_length: int = 0
    ciphertext_sha: HASH | None = None

    def __iter__(self) -> Generator[memoryview, None, None]:
        header = self.opened.header
        aead = AESGCM(self.opened.keys.payload_key)
        aad = header.pack()
        records = _RecordReader(self.stream, header, self.opened.payload_offset)
        free: queue.Queue[_Slot | None] = queue.Queue()  # slots are made by the reader as it needs them
        ready: queue.Queue[_Ready] = queue.Queue()
        sha = self.ciphertext_sha
        to_hash: queue.Queue[tuple[_Slot, int] | None] | None = queue.Queue() if sha is not None else None
        holders_lock = threading.Lock()
        stop = threading.Event()

        def release(slot: _Slot) -> None:
            """A slot goes back to the reader once its consumer and (if any) the ciphertext hasher are done."""
            with holders_lock:
                slot.holders -= 1
                if slot.holders:
                    return
            free.put(slot)

        def open_record(slot: _Slot, index: int, length: int) -> _Opened:
            sealed = memoryview(slot.sealed)[:length]
            plain = memoryview(slot.plain)[: length - fmt.TAG_SIZE]
            for final in (False, True):
                try:
                    aead.decrypt_into(fmt.nonce(index, final), sealed, aad, plain)
                    return slot, length - fmt.TAG_SIZE, final
                except InvalidTag:
                    continue
            raise _auth_error(index)

        def produce(pool: ThreadPoolExecutor | None) -> None:
            index = 1
            made = 0
            try:
                while not stop.is_set():
                    slot: _Slot | None
                    if made < self.depth and free.empty():
                        made += 1
                        slot = _Slot(bytearray(header.chunk_size + fmt.TAG_SIZE), bytearray(header.chunk_size))
                    else:
                        slot = free.get()
                    if slot is None:
                        return
                    length = records.read_into(index, slot.sealed)
                    if length is None:
                        ready.put(None)  # the end of the file
                        return
                    slot.holders = 1 if to_hash is None else 2
                    if to_hash is not None:
                        to_hash.put((slot, length))
                    ready.put((slot, index, length) if pool is None else pool.submit(open_record, slot, index, length))
                    index += 1
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                ready.put(exc)
            finally:
                if to_hash is not None:
                    to_hash.put(None)

        def hash_records() -> None:
            assert to_hash is not None and sha is not None
            while (item := to_hash.get()) is not None:
                slot, length = item
                sha.update(length.to_bytes(fmt.LENGTH_PREFIX_SIZE, "big"))
                sha.update(memoryview(slot.sealed)[:length])
                release(slot)

        with (ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rc-decrypt") if self.workers
              else nullcontext()) as pool:
            producer = threading.Thread(target=produce, args=(pool,), name="rc-read", daemon=True)
            hasher = threading.Thread(target=hash_records, name="rc-hash", daemon=True) if to_hash is not None else None
            producer.start()
            if hasher is not None:
                hasher.start()
            try:
                yield from self._consume(ready, release, open_record)
            finally:
                stop.set()
                free.put(None)
                producer.join()
                if hasher is not None:
                    hasher.join()

    def _consume(self, ready: queue.Queue[_Ready], release: Callable[[_Slot], None],
                 open_record: Callable[[_Slot, int, int], _Opened]) -> Iterator[memoryview]:
        chunk_size = self.opened.header.chunk_size
        short_seen = False
        while True:
            item = ready.get()
            if self.sentinel is not None:
                if item is None:
                    return
                raise IntegrityError(
                    "The backup has data after its end-of-backup record: bytes were appended to it.",
                    hint="Fetch a clean copy; do not trust this file as it is.",
                )
            if item is None:
                raise IntegrityError(
                    f"The backup is truncated: it ends after chunk {self.chunks} without its end-of-backup record.",
                    hint="Fetch the file again from the target; the copy you have was cut short.",
                )
            if isinstance(item, BaseException):
                raise item
            slot, length, final = item.result() if isinstance(item, Future) else open_record(*item)
            index = self.chunks + 1
            if final:
                self.sentinel = self._check_sentinel(bytes(slot.plain[:length]))
            else:
                if length == 0:
                    raise IntegrityError(f"Chunk {index} is empty, which no writer produces: the backup is malformed.")
                if short_seen:
                    raise IntegrityError(f"Chunk {index} follows a short chunk: the backup is malformed.")
                short_seen = length < chunk_size
                self.chunks = index
                self.payload_length += length
                yield memoryview(slot.plain)[:length]
                self.reporter.advance(length + fmt.TAG_SIZE + fmt.LENGTH_PREFIX_SIZE)
            release(slot)

    def _check_sentinel(self, raw: bytes) -> fmt.Sentinel:
        sentinel = fmt.Sentinel.parse(raw)
        if sentinel.payload_chunks != self.chunks or sentinel.payload_length != self.payload_length:
            raise IntegrityError(
                f"The end-of-backup record expects {sentinel.payload_chunks} chunks ({sentinel.payload_length} "
                f"bytes) but {self.chunks} chunks ({self.payload_length} bytes) were read: chunks are missing or extra."
            )
        return sentinel
