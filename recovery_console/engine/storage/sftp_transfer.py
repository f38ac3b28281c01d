"""Pipelined SFTP uploads and reads, built on the request/response primitives paramiko's SFTPFile uses.

paramiko's own pipelined writes can lose a failure status, and its prefetch buffers without bound;
neither is acceptable for backups, so SftpUpload and SftpReader keep their own requests in flight
(`SFTPClient._request`, `_async_request`, `_read_response`, `_convert_status`) and check every reply.
"""

from __future__ import annotations

import io
import logging
import posixpath
import secrets as _random
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import paramiko
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_OPEN,
    CMD_READ,
    CMD_STATUS,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_WRITE,
    int64,
)

from recovery_console.engine.storage.base import TEMP_PREFIX, Upload
from recovery_console.errors import RecoveryError, StorageError

log = logging.getLogger(__name__)

READ_BLOCK = 32768
"""Bytes per SFTP READ request when the server does not announce more (every server supports this)."""
MAX_READ_BLOCK = 256 << 10
"""The largest READ request used when the server's limits@openssh.com allows it (fewer round trips)."""
READ_AHEAD = 4 << 20
"""Bytes requested ahead per open stream; at most this much is in flight or buffered."""
WRITE_BLOCK = 32768
"""Bytes per SFTP WRITE request when the server does not announce more."""
MAX_WRITE_BLOCK = 256 << 10
WRITE_AHEAD = 4 << 20
"""Bytes of WRITE requests in flight per upload before waiting for their acknowledgements."""


class SftpFolder(Protocol):
    """What an upload or a reader needs from the storage that opened it; SftpStorage is one."""

    def location(self, key: str) -> str: ...

    def translate(self, exc: BaseException, action: str, key: str) -> RecoveryError:
        """A paramiko/socket failure while `action` ('writing', …) `key` as the project error."""

    def rename_into_place(self, tmp: str, final: str) -> None:
        """Publish a finished temporary file under its final name."""

    def discard(self, path: str) -> None:
        """Remove a leftover file over the open connection, never reconnecting."""


def server_limits(sftp: paramiko.SFTPClient) -> tuple[int, int]:
    """(READ size, WRITE size) to use: what limits@openssh.com announces, else the safe 32 KiB each."""
    try:
        kind, msg = sftp._request(CMD_EXTENDED, "limits@openssh.com")
        if kind != CMD_EXTENDED_REPLY:
            return READ_BLOCK, WRITE_BLOCK
        msg.get_int64()  # max-packet-length
        max_read, max_write = msg.get_int64(), msg.get_int64()
    except Exception:
        log.debug("limits@openssh.com failed; using %d-byte reads and writes", READ_BLOCK, exc_info=True)
        return READ_BLOCK, WRITE_BLOCK
    read = max(READ_BLOCK, min(MAX_READ_BLOCK, int(max_read))) if max_read > 0 else READ_BLOCK
    write = max(WRITE_BLOCK, min(MAX_WRITE_BLOCK, int(max_write))) if max_write > 0 else WRITE_BLOCK
    return read, write



def force_close(file: paramiko.SFTPFile) -> None:
    """Close a remote file even when the connection is gone.

    paramiko's close() first flushes buffered and pipelined writes; on a dead connection that
    raises before the file is marked closed, and its __del__ then raises again from the garbage
    collector. Unsent data is worthless at that point, so drop it and mark the file closed.
    """
    try:
        file.close()
        return
    except Exception:
        log.debug("closing a remote file failed; dropping its unsent writes", exc_info=True)
    try:
        file.pipelined = False
        file._wbuffer = io.BytesIO()  # paramiko BufferedFile internals: the unsent write buffer
        file.close()
    except Exception:
        log.debug("closing a remote file failed again; marking it closed", exc_info=True)
    file._closed = True


class SftpUpload(Upload):
    """Writes to '.rc-part-…' beside the final name; commit renames it, abort removes it.

    Writes are pipelined (WRITE_AHEAD bytes of WRITE requests in flight) and the status of
    every single request is checked before the rename. paramiko's own pipelined SFTPFile drops
    the status replies it has not waited for when the file is closed, so a server-side failure
    (a full disk) could end up as a silently truncated file; this writer cannot lose one. Once
    all writes are acknowledged, fsync@openssh.com (where offered) makes the data durable before
    the rename publishes it, and CLOSE's own status is checked too.
    """

    def __init__(self, storage: SftpFolder, sftp: paramiko.SFTPClient, key: str, final: str, block: int) -> None:
        """Open the temp file beside `final` (its folder exists) for WRITE requests of `block` bytes."""
        self.storage = storage
        self.sftp = sftp
        self.key = key
        self.final = final
        folder, name = posixpath.split(final)
        self.tmp = posixpath.join(folder, f"{TEMP_PREFIX}{_random.token_hex(6)}-{name}")
        self.done = False
        self.handle: bytes | None = None
        self._offset = 0
        self._buf = bytearray()
        self._pending: deque[int] = deque()
        self._status: dict[int, BaseException | None] = {}
        self._block = block
        self._depth = max(4, WRITE_AHEAD // self._block)
        try:
            kind, msg = sftp._request(CMD_OPEN, self.tmp, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL,
                                      paramiko.SFTPAttributes())
            if kind != CMD_HANDLE:
                raise paramiko.SFTPError("the server did not return a file handle")
            self.handle = msg.get_binary()
        except Exception as exc:
            raise storage.translate(exc, "writing", key) from exc

    # called by SFTPClient._read_response for the requests this object issued
    def _async_response(self, kind: int, msg: Any, num: int) -> None:
        if kind != CMD_STATUS:
            self._status[num] = paramiko.SFTPError(f"unexpected SFTP reply type {kind} to a write")
            return
        try:
            self.sftp._convert_status(msg)
            self._status[num] = None
        except (OSError, EOFError, ValueError) as exc:  # what _convert_status raises for a failure status
            self._status[num] = exc

    def _wait_oldest(self) -> None:
        num = self._pending[0]
        while num not in self._status:
            self.sftp._read_response()
        self._pending.popleft()
        error = self._status.pop(num)
        if error is not None:
            raise error

    def _send(self, chunk: bytes | memoryview) -> None:
        num = self.sftp._async_request(self, CMD_WRITE, self.handle, int64(self._offset), bytes(chunk))
        self._pending.append(num)
        self._offset += len(chunk)
        while len(self._pending) > self._depth:
            self._wait_oldest()

    def write(self, data: bytes | memoryview) -> None:
        if self.done:
            raise StorageError(f"The upload of {self.key} was already finished or abandoned.")
        with self._aborted_on_failure("writing"):
            self._buf += data
            if len(self._buf) >= self._block:
                view = memoryview(self._buf)
                whole = len(view) - len(view) % self._block
                for at in range(0, whole, self._block):
                    self._send(view[at:at + self._block])
                view.release()
                del self._buf[:whole]

    def commit(self) -> None:
        if self.done:
            raise StorageError(f"The upload of {self.key} was already finished or abandoned.")
        with self._aborted_on_failure("writing"):
            if self._buf:
                self._send(bytes(self._buf))
                self._buf.clear()
            while self._pending:
                self._wait_oldest()
            try:
                self.sftp._request(CMD_EXTENDED, "fsync@openssh.com", self.handle)
            except OSError as exc:
                if exc.errno is not None or "unsupported" not in str(exc).lower():
                    raise
            handle, self.handle = self.handle, None
            self.sftp._request(CMD_CLOSE, handle)
        with self._aborted_on_failure("finishing (renaming into place)"):
            self.storage.rename_into_place(self.tmp, self.final)
        self.done = True

    @contextmanager
    def _aborted_on_failure(self, action: str) -> Iterator[None]:
        """Any failure abandons the upload; a library's error becomes the user's error for `action` first."""
        try:
            yield
        except RecoveryError:
            self.abort()
            raise
        except Exception as exc:
            error = self.storage.translate(exc, action, self.key)
            self.abort()
            raise error from exc

    def abort(self) -> None:
        """Best effort: the temp file goes, unless the connection is already gone (it stays hidden)."""
        if self.done:
            return
        self.done = True
        self._buf.clear()
        try:
            if self.handle is not None:
                handle, self.handle = self.handle, None
                self.sftp._request(CMD_CLOSE, handle)  # replies to writes still in flight are skipped
        except Exception:
            log.debug("abandoning %s: closing %s failed", self.key, self.tmp, exc_info=True)
        try:
            self.storage.discard(self.tmp)
        except Exception:
            log.debug("abandoning %s: removing %s failed; it stays hidden", self.key, self.tmp, exc_info=True)


class SftpReader:
    """Bytes [start, end) of a remote file, with READ_AHEAD bytes of read requests kept in flight.

    Like OpenSSH's sftp client, this pipelines fixed-size READ requests and consumes the replies in
    order, so a download runs at the link's speed while memory stays bounded (at most READ_AHEAD
    bytes are outstanding or buffered per stream). paramiko's own prefetch
    buffers everything that arrives until it is read, which is unbounded for a slow consumer, so
    this uses the request/response primitives SFTPFile itself is built on.
    """

    def __init__(self, storage: SftpFolder, key: str, file: paramiko.SFTPFile, start: int, end: int,
                 block: int = READ_BLOCK) -> None:
        self._storage = storage  # keeps the connection open while the stream is in use
        self._block = block
        self._depth = max(4, READ_AHEAD // block)
        self._key = key
        self._file = file
        self._sftp = file.sftp
        self._next = start  # the next offset to request
        self._end = end
        self._pending: deque[tuple[int, int, int]] = deque()  # (request id, offset, length), in order
        self._arrived: dict[int, bytes | BaseException] = {}
        self._buf = b""
        self._off = 0
        self._closed = False

    # called by SFTPClient._read_response for the requests this object issued
    def _async_response(self, kind: int, msg: Any, num: int) -> None:
        if kind == CMD_DATA:
            self._arrived[num] = msg.get_string()
            return
        if kind == CMD_STATUS:
            try:
                self._sftp._convert_status(msg)
                self._arrived[num] = b""
            except EOFError:
                self._arrived[num] = b""
            except (OSError, ValueError) as exc:  # what _convert_status raises for a failure status
                self._arrived[num] = exc
            return
        self._arrived[num] = paramiko.SFTPError(f"unexpected SFTP reply type {kind} to a read")

    def _request(self, offset: int, length: int) -> int:
        num: int = self._sftp._async_request(self, CMD_READ, self._file.handle, int64(offset), int(length))
        return num

    def _fill(self) -> None:
        while len(self._pending) < self._depth and self._next < self._end:
            length = min(self._block, self._end - self._next)
            self._pending.append((self._request(self._next, length), self._next, length))
            self._next += length

    def _next_block(self) -> bool:
        if self._closed:
            raise ValueError("I/O operation on a closed SFTP stream")
        try:
            self._fill()
            if not self._pending:
                return False
            num, offset, length = self._pending[0]
            while num not in self._arrived:
                self._sftp._read_response()
            self._pending.popleft()
            data = self._arrived.pop(num)
            if isinstance(data, BaseException):
                raise data
            while len(data) < length:  # a server may answer with less than asked: fetch the rest
                kind, msg = self._sftp._request(CMD_READ, self._file.handle, int64(offset + len(data)),
                                                int(length - len(data)))
                more = msg.get_string() if kind == CMD_DATA else b""
                if not more:
                    raise StorageError(f"{self._storage.location(self._key)} ended early while reading it.",
                                       hint="The file was changed or truncated on the server; refresh the list.")
                data += more
        except StorageError:
            raise
        except Exception as exc:
            raise self._storage.translate(exc, "reading", self._key) from exc
        self._buf, self._off = data, 0
        return True

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf).cast("B")
        filled = 0
        while filled < len(view):
            if self._off >= len(self._buf) and not self._next_block():
                break
            n = min(len(view) - filled, len(self._buf) - self._off)
            view[filled:filled + n] = memoryview(self._buf)[self._off:self._off + n]
            self._off += n
            filled += n
        return filled

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out = bytearray()
            while self._off < len(self._buf) or self._next_block():
                out += memoryview(self._buf)[self._off:]
                self._off = len(self._buf)
            return bytes(out)
        out_buf = bytearray(size)
        n = self.readinto(out_buf)
        return bytes(out_buf[:n])

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._arrived.clear()
        self._buf = b""
        force_close(self._file)  # replies still on the way are dropped by paramiko as unexpected

    def __enter__(self) -> SftpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
