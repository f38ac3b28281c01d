"""SMB uploads (a hidden temp file renamed into place) and reads with several READ requests in flight."""

from __future__ import annotations

import errno
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from recovery_console.engine.storage.base import Upload
from recovery_console.engine.storage.smb_errors import Where
from recovery_console.errors import RecoveryError, StorageError

log = logging.getLogger(__name__)

WRITE_BLOCK = 1 << 20
READ_PIECE = 1 << 20
READ_DEPTH = 4  # READ requests in flight per open file: the link stays busy while an answer is copied out
CREDIT_BYTES = 65536  # what one SMB2 credit pays for in a multi-credit READ (MS-SMB2 3.1.5.2)


class SmbShare(Protocol):
    """What an upload or a reader needs from the storage that opened it; SmbStorage is one."""

    def failure(self, exc: BaseException, where: Where) -> RecoveryError:
        """`exc` as a project error, the connection dropped if it was lost."""

    def rename_into_place(self, temp: str, final: str) -> None:
        """Replace `final` with the finished temp file."""

    def discard(self, path: str) -> None:
        """Remove a leftover temp file."""


class SmbUpload(Upload):
    """Writes to a hidden temp file beside the final name; `commit` flushes, closes and renames over it."""

    def __init__(self, storage: SmbShare, raw: Any, temp: str, final: str) -> None:
        self.storage = storage
        self.raw = raw
        self.temp = temp
        self.final = final
        self._buffer = bytearray()
        self._done = False

    def _fail(self, exc: BaseException, action: str) -> RecoveryError:
        return self.storage.failure(exc, Where(action, self.final, "write"))

    def _send(self) -> None:
        # Swap the buffer out first: a failed write leaves views of it alive in the traceback.
        pending, self._buffer = self._buffer, bytearray()
        view = memoryview(pending)
        offset = 0
        try:
            while offset < len(view):
                written = self.raw.write(view[offset:])
                if not written:
                    raise OSError(errno.EIO, "the server accepted no bytes")
                offset += written
        except Exception as exc:
            raise self._fail(exc, "writing") from exc

    def write(self, data: bytes | memoryview) -> None:
        if self._done:
            raise StorageError(f"The upload of {self.final} was already finished or abandoned.")
        self._buffer += data
        if len(self._buffer) >= WRITE_BLOCK:
            self._send()

    def commit(self) -> None:
        try:
            self._send()
            try:
                self.raw.flush()
                self.raw.close()
            except Exception as exc:
                raise self._fail(exc, "finishing") from exc
            self.storage.rename_into_place(self.temp, self.final)
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        """Best effort: close the handle and delete the temp file (it stays hidden if the server is gone)."""
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        try:
            self.raw.close()
        except Exception:  # the connection may already be gone
            log.debug("abandoning %s: closing %s failed", self.final, self.temp, exc_info=True)
        try:
            self.storage.discard(self.temp)
        except RecoveryError as exc:
            log.debug("abandoning %s: removing %s failed (it stays hidden): %s", self.final, self.temp, exc.message)


class SmbRangeReader:
    """Bytes [start, end) of a file on the share, with READ_DEPTH reads of READ_PIECE bytes kept in flight.

    smbclient's own reads wait for each answer before asking again, so every round trip (and the
    server's disk read and encryption) idles the link; here the next requests are already queued
    at the server while an answer is copied out. Credits are asked for so that the depth fits.
    """

    def __init__(self, storage: SmbShare, raw: Any, path: str, start: int, end: int | None) -> None:
        self._storage = storage
        self._raw = raw
        self._path = path
        self._open = raw.fd
        self._connection = raw.fd.connection
        size = int(raw.fd.end_of_file)
        self._end = size if end is None else min(end, size)
        self._sent = min(start, self._end)
        self._pending: deque[tuple[Any, Callable[[Any], bytes], int]] = deque()
        self._data = memoryview(b"")

    def _fail(self, exc: BaseException) -> RecoveryError:
        return self._storage.failure(exc, Where("reading", self._path, "read"))

    def _send_more(self) -> None:
        """Queue READ requests until READ_DEPTH are in flight, the file's end is asked for, or credits run out."""
        connection = self._connection
        while len(self._pending) < READ_DEPTH and self._sent < self._end:
            available = connection.sequence_window["high"] - connection.sequence_window["low"]
            length = min(READ_PIECE, connection.max_read_size, self._end - self._sent)
            if (length - 1) // CREDIT_BYTES + 1 > available:
                if self._pending:
                    return  # answers to what is in flight grant more credits
                length = min(length, max(1, available) * CREDIT_BYTES)
            charge = (length - 1) // CREDIT_BYTES + 1
            message, receive = self._open.read(self._sent, length, send=False)
            request = connection.send(message, sid=self._open.tree_connect.session.session_id,
                                      tid=self._open.tree_connect.tree_connect_id,
                                      credit_request=charge + max(0, READ_DEPTH * charge - (available - charge)))
            self._pending.append((request, receive, length))
            self._sent += length

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf).cast("B")
        if not self._data:
            try:
                self._send_more()
                if not self._pending:
                    return 0
                request, receive, length = self._pending.popleft()
                data = receive(request)
                self._send_more()
            except Exception as exc:
                raise self._fail(exc) from exc
            if len(data) != length:
                raise StorageError(f"The server answered a read of {length:,} bytes of {self._path} with "
                                   f"{len(data):,}: the file changed while it was read.",
                                   hint="Read it again; nothing partial was kept.")
            self._data = memoryview(data)
        n = min(len(view), len(self._data))
        view[:n] = self._data[:n]
        self._data = self._data[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        want = size if size is not None and size >= 0 else None
        while want is None or len(out) < want:
            piece = READ_PIECE if want is None else min(READ_PIECE, want - len(out))
            buf = bytearray(piece)
            n = self.readinto(buf)
            if not n:
                break
            out += buf[:n]
        return bytes(out)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Collect the answers still in flight (the connection must not be left owing them), then close."""
        while self._pending:
            request, receive, _ = self._pending.popleft()
            try:
                receive(request)
            except Exception:  # the connection may already be gone
                log.debug("%s: collecting a read still in flight failed", self._path, exc_info=True)
                break
        self._pending.clear()
        try:
            self._raw.close()
        except Exception:  # closing after the connection dropped
            log.debug("closing %s failed", self._path, exc_info=True)

    def __enter__(self) -> SmbRangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
