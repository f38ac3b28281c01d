"""A folder on an SFTP server as a storage target (paramiko), with trust-on-first-use host keys.

Keys are '/'-separated paths relative to the target's working directory. Writes go to a hidden
temporary name in the destination folder and are renamed into place when complete, so a
half-written backup is never listed. The server's host key must have been confirmed by the user
(its SHA256 fingerprint is pinned in the target's settings): an unpinned target refuses to connect,
and a server presenting another key is refused with both fingerprints shown.

Authentication is exactly one method, the one configured: a password, or an OpenSSH private key
(Ed25519, ECDSA or RSA, optionally passphrase-protected) held as text. No SSH agent, no key files
from ~/.ssh, no fallback from one method to the other, no interactive prompt.

Transfers pipeline SFTP requests themselves (see _SftpUpload and _SftpReader) through the
request/response primitives paramiko's SFTPFile is built on (`SFTPClient._request`,
`_async_request`, `_read_response`, `_convert_status`): paramiko's pipelined writes can lose a
failure status and its prefetch buffers without bound, neither acceptable for backups.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import logging
import posixpath
import secrets as _random
import socket
import stat as _stat
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from paramiko.auth_strategy import AuthFailure, AuthStrategy, InMemoryPrivateKey, Password
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

from recovery_console.engine.storage.base import ObjectInfo, Storage, Upload
from recovery_console.errors import (
    NotFoundError,
    QuotaExceededError,
    RecoveryError,
    SecretUnavailableError,
    StorageError,
    UsageError,
)
from recovery_console.models.target import SFTP_DEFAULT_PORT, TargetConfig

TEMP_PREFIX = ".rc-part-"
CONNECT_TIMEOUT = 10.0
"""Seconds for TCP connect, SSH banner and key exchange."""
AUTH_TIMEOUT = 15.0
CHANNEL_WINDOW = 16 << 20
CHANNEL_PACKET = 256 << 10
"""Seconds for the authentication exchange (a refused password costs the server's PAM delay, ~2-3 s)."""
IO_TIMEOUT = 30.0
"""Seconds the server may stay silent during a file operation before the connection counts as lost."""
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
AUTH_METHODS = ("password", "key")

# paramiko logs failed handshakes with tracebacks at ERROR level; with no handler configured,
# Python's last-resort handler would print them on the user's terminal next to our own message.
# A NullHandler keeps them out of the terminal; an application that configures logging still gets them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostKeyInfo:
    """An SSH server's host key as the user confirms it: type, `ssh-keygen -lf` fingerprint, key."""

    key_type: str
    fingerprint_sha256: str
    key_base64: str

    def __str__(self) -> str:
        return f"{self.key_type} {self.fingerprint_sha256}"


class HostKeyUntrustedError(StorageError):
    """The server's host key has not been confirmed by the user (trust on first use not done)."""

    def __init__(self, message: str, hint: str = "", detail: str = "", *,
                 host_key: HostKeyInfo | None = None) -> None:
        super().__init__(message, hint, detail)
        self.host_key = host_key


class HostKeyChangedError(StorageError):
    """The server presented a host key other than the one the target trusts."""

    def __init__(self, message: str, hint: str = "", detail: str = "", *,
                 expected: str = "", actual: HostKeyInfo | None = None) -> None:
        super().__init__(message, hint, detail)
        self.expected = expected
        self.actual = actual


class AuthenticationFailedError(StorageError):
    """The SSH server refused the configured password or private key."""


class PrivateKeyError(StorageError):
    """The stored private key cannot be used: not a key, unsupported type, or wrong/missing passphrase."""

    def __init__(self, message: str, hint: str = "", detail: str = "", *, needs_passphrase: bool = False,
                 wrong_passphrase: bool = False) -> None:
        super().__init__(message, hint, detail)
        self.needs_passphrase = needs_passphrase
        self.wrong_passphrase = wrong_passphrase


# ---------------------------------------------------------------------------------------------
# Host keys
# ---------------------------------------------------------------------------------------------


def fingerprint_sha256(key_blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob, exactly as `ssh-keygen -lf` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode("ascii").rstrip("=")


def host_key_info(key: paramiko.PKey) -> HostKeyInfo:
    blob = key.asbytes()
    return HostKeyInfo(key_type=key.get_name(), fingerprint_sha256=fingerprint_sha256(blob),
                       key_base64=base64.b64encode(blob).decode("ascii"))


def normalize_fingerprint(text: str) -> str:
    """'SHA256:abc…' as typed or pasted (spaces, missing prefix, base64 padding) → canonical form."""
    value = "".join(text.split())
    if value.upper().startswith("SHA256:"):
        value = value[len("SHA256:"):]
    value = value.rstrip("=")
    if not value or len(value) != 43:
        raise UsageError(f"'{text.strip()}' is not an SSH SHA256 host-key fingerprint.",
                         hint="Copy it as `ssh-keygen -lf` prints it: SHA256: and 43 more characters.")
    return "SHA256:" + value


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the server; each way this fails becomes its own actionable error."""
    where = _endpoint(host, port)
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise StorageError(f"The SFTP server name '{host}' could not be resolved ({exc.strerror}).",
                           hint="Check the spelling of the host name, and this machine's network and DNS.") from None
    except ConnectionRefusedError:
        raise StorageError(f"{where} refused the connection: no SSH server is listening on port {port}.",
                           hint="Check the host and port, and that the SSH/SFTP service is running.") from None
    except TimeoutError:
        raise StorageError(f"Connecting to {where} timed out after {timeout:g} s.",
                           hint="Check the host and port, and that no firewall drops the connection.") from None
    except OSError as exc:
        raise StorageError(f"Could not connect to {where}: {exc.strerror or exc}.",
                           hint="Check the network between this machine and the server.") from None


def _handshake_failed(host: str, port: int, exc: BaseException) -> StorageError:
    where = _endpoint(host, port)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return StorageError(f"{where} accepted the connection but did not complete an SSH handshake in time.",
                            hint="Check that this port is an SSH/SFTP server and that it is not overloaded.")
    return StorageError(f"{where} did not complete an SSH handshake ({exc or type(exc).__name__}).",
                        hint="Check that this host and port run an SSH/SFTP server.")


def fetch_host_key(host: str, port: int = SFTP_DEFAULT_PORT, timeout: float = CONNECT_TIMEOUT) -> HostKeyInfo:
    """Connect, read the server's host key from the key exchange, and hang up without authenticating."""
    sock = _open_socket(host, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return host_key_info(transport.get_remote_server_key())
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise _handshake_failed(host, port, exc) from None
    finally:
        transport.close()


def untrusted_error(host: str, port: int, found: HostKeyInfo, target: str | None = None) -> HostKeyUntrustedError:
    where = _endpoint(host, port)
    how = (f"add the target with `--accept-host-key {found.fingerprint_sha256}`" if target is None else
           f"recreate the target '{target}' with `--accept-host-key {found.fingerprint_sha256}`")
    return HostKeyUntrustedError(
        f"The SSH host key of {where} has not been confirmed: it presents {found.key_type} "
        f"{found.fingerprint_sha256}.",
        hint=("Ask the server's administrator to confirm that fingerprint (on the server: "
              f"`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`); if it matches, {how}."),
        host_key=found,
    )


def changed_error(host: str, port: int, expected: str, expected_type: str | None, found: HostKeyInfo,
                  target: str | None = None) -> HostKeyChangedError:
    where = _endpoint(host, port)
    trusted = f"{expected_type} {expected}" if expected_type else expected
    name = target or "NAME"
    return HostKeyChangedError(
        f"The SSH host key of {where} has CHANGED. Trusted: {trusted}. Presented now: {found.key_type} "
        f"{found.fingerprint_sha256}. Someone may be intercepting the connection, or the server was "
        "reinstalled; nothing was sent to it.",
        hint=("Confirm the new fingerprint with the server's administrator. If the change is legitimate, "
              f"re-trusting means recreating the target: `recovery-console target remove {name}`, then "
              f"`recovery-console target add sftp {name} … --accept-host-key {found.fingerprint_sha256}`."),
        expected=expected, actual=found,
    )


def _preferred_key_types(available: list[str], pinned_type: str | None) -> list[str]:
    """Ask the server for the pinned kind of host key first, so a server with several keys shows that one."""
    if not pinned_type:
        return available
    wanted = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if pinned_type == "ssh-rsa" else [pinned_type]
    first = [t for t in wanted if t in available]
    return first + [t for t in available if t not in first]


class _PinnedHostKey(paramiko.MissingHostKeyPolicy):
    """Accepts exactly the pinned fingerprint; no known_hosts file is ever read or written."""

    def __init__(self, storage: SftpStorage) -> None:
        self.storage = storage

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        s = self.storage
        found = host_key_info(key)
        if not s.host_key_fingerprint:
            raise untrusted_error(s.host, s.port, found, s.name)
        if found.fingerprint_sha256 != s.host_key_fingerprint:
            raise changed_error(s.host, s.port, s.host_key_fingerprint, s.host_key_type, found, s.name)


# ---------------------------------------------------------------------------------------------
# Private keys
# ---------------------------------------------------------------------------------------------


def _load_crypto_key(data: bytes, password: bytes | None) -> Any:
    try:
        return serialization.load_ssh_private_key(data, password=password)
    except ValueError as ssh_error:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            raise ssh_error
        return serialization.load_pem_private_key(data, password=password)


def private_key_needs_passphrase(text: str) -> bool:
    """Whether an OpenSSH/PEM private key text is passphrase-protected (raises PrivateKeyError if not a key)."""
    try:
        _load_crypto_key(text.encode(), None)
    except TypeError:
        return True
    except Exception:
        raise PrivateKeyError("The private key is not an OpenSSH or PEM private key.",
                              hint="Use the private key file (e.g. ~/.ssh/id_ed25519), not the .pub file.") from None
    return False


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """An Ed25519, ECDSA or RSA private key from its OpenSSH/PEM text, decrypted with `passphrase` if needed."""
    data = text.strip().encode() + b"\n"
    encrypted = private_key_needs_passphrase(text)
    if encrypted and not passphrase:
        raise PrivateKeyError("The private key is protected by a passphrase, and no passphrase was given.",
                              hint="Give the key's passphrase (--passphrase-file or --passphrase-env), "
                                   "recreating the target if it is already saved.",
                              needs_passphrase=True)
    password = passphrase.encode() if encrypted and passphrase else None
    try:
        loaded = _load_crypto_key(data, password)
    except (ValueError, TypeError):
        raise PrivateKeyError("The passphrase does not unlock the private key (wrong passphrase).",
                              hint="Check the passphrase; recreate the target with the right one.",
                              needs_passphrase=True, wrong_passphrase=True) from None
    if isinstance(loaded, rsa.RSAPrivateKey):
        key_class: type[paramiko.PKey] = paramiko.RSAKey
    elif isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    else:
        raise PrivateKeyError(f"Private keys of type {type(loaded).__name__} are not supported.",
                              hint="Use an Ed25519, ECDSA or RSA key.")
    try:
        return key_class.from_private_key(io.StringIO(data.decode()), password=passphrase if encrypted else None)
    except paramiko.SSHException:
        # paramiko reads some encodings (e.g. PKCS#8 PEM) less widely than `cryptography` does:
        # hand it the same key re-encoded in the OpenSSH format it always understands.
        openssh = loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()).decode()
        try:
            return key_class.from_private_key(io.StringIO(openssh))
        except paramiko.SSHException:
            raise PrivateKeyError("The private key could not be read.",
                                  hint="Convert it with `ssh-keygen -p -f KEYFILE` (OpenSSH format).") from None


# ---------------------------------------------------------------------------------------------
# Uploads and reads
# ---------------------------------------------------------------------------------------------


def _force_close(file: paramiko.SFTPFile) -> None:
    """Close a remote file even when the connection is gone.

    paramiko's close() first flushes buffered and pipelined writes; on a dead connection that
    raises before the file is marked closed, and its __del__ then raises again from the garbage
    collector. Unsent data is worthless at that point, so drop it and mark the file closed.
    """
    try:
        file.close()
        return
    except Exception:
        pass
    try:
        file.pipelined = False
        file._wbuffer = io.BytesIO()  # paramiko BufferedFile internals: the unsent write buffer
        file.close()
    except Exception:
        pass
    file._closed = True


class _SftpUpload(Upload):
    """Writes to '.rc-part-…' beside the final name; commit renames it, abort removes it.

    Writes are pipelined (WRITE_AHEAD bytes of WRITE requests in flight) and the status of
    every single request is checked before the rename. paramiko's own pipelined SFTPFile drops
    the status replies it has not waited for when the file is closed, so a server-side failure
    (a full disk) could end up as a silently truncated file; this writer cannot lose one. Once
    all writes are acknowledged, fsync@openssh.com (where offered) makes the data durable before
    the rename publishes it, and CLOSE's own status is checked too.
    """

    def __init__(self, storage: SftpStorage, key: str) -> None:
        self.storage = storage
        self.key = key
        self.final = storage._remote(key)
        folder, name = posixpath.split(self.final)
        self.tmp = posixpath.join(folder, f"{TEMP_PREFIX}{_random.token_hex(6)}-{name}")
        self.done = False
        self.handle: bytes | None = None
        self._offset = 0
        self._buf = bytearray()
        self._pending: deque[int] = deque()
        self._status: dict[int, BaseException | None] = {}
        sftp = self.sftp = storage._sftp()
        self._block = storage._write_block
        self._depth = max(4, WRITE_AHEAD // self._block)
        storage._makedirs(sftp, folder, key)
        try:
            kind, msg = sftp._request(CMD_OPEN, self.tmp, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL,
                                      paramiko.SFTPAttributes())
            if kind != CMD_HANDLE:
                raise paramiko.SFTPError("the server did not return a file handle")
            self.handle = msg.get_binary()
        except Exception as exc:
            raise storage._translate(exc, "writing", key) from None

    # called by SFTPClient._read_response for the requests this object issued
    def _async_response(self, kind: int, msg: Any, num: int) -> None:
        if kind != CMD_STATUS:
            self._status[num] = paramiko.SFTPError(f"unexpected SFTP reply type {kind} to a write")
            return
        try:
            self.sftp._convert_status(msg)
            self._status[num] = None
        except Exception as exc:
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
        try:
            self._buf += data
            if len(self._buf) >= self._block:
                view = memoryview(self._buf)
                whole = len(view) - len(view) % self._block
                for at in range(0, whole, self._block):
                    self._send(view[at:at + self._block])
                view.release()
                del self._buf[:whole]
        except Exception as exc:
            error = self.storage._translate(exc, "writing", self.key)
            self.abort()
            raise error from None

    def commit(self) -> None:
        if self.done:
            raise StorageError(f"The upload of {self.key} was already finished or abandoned.")
        try:
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
        except Exception as exc:
            error = self.storage._translate(exc, "writing", self.key)
            self.abort()
            raise error from None
        try:
            self.storage._rename_into_place(self.tmp, self.final)
        except Exception as exc:
            error = self.storage._translate(exc, "finishing (renaming into place)", self.key)
            self.abort()
            raise error from None
        self.done = True

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
            pass
        try:
            self.storage._sftp(reconnect=False).remove(self.tmp)
        except Exception:
            pass


class _SftpReader:
    """Bytes [start, end) of a remote file, with READ_AHEAD bytes of read requests kept in flight.

    Like OpenSSH's sftp client, this pipelines fixed-size READ requests and consumes the replies in
    order, so a download runs at the link's speed while memory stays bounded (at most READ_AHEAD
    bytes are outstanding or buffered per stream). paramiko's own prefetch
    buffers everything that arrives until it is read, which is unbounded for a slow consumer, so
    this uses the request/response primitives SFTPFile itself is built on.
    """

    def __init__(self, storage: SftpStorage, key: str, file: paramiko.SFTPFile, start: int, end: int,
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
            except Exception as exc:
                self._arrived[num] = exc
            return
        self._arrived[num] = paramiko.SFTPError(f"unexpected SFTP reply type {kind} to a read")

    def _request(self, offset: int, length: int) -> int:
        return self._sftp._async_request(self, CMD_READ, self._file.handle, int64(offset), int(length))

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
            raise self._storage._translate(exc, "reading", self._key) from None
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
        _force_close(self._file)  # replies still on the way are dropped by paramiko as unexpected

    def __enter__(self) -> _SftpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# The storage
# ---------------------------------------------------------------------------------------------


class _OneMethod(AuthStrategy):
    """Exactly the configured authentication source, nothing else."""

    def __init__(self, source: Any) -> None:
        super().__init__(ssh_config=None)
        self.source = source

    def get_sources(self) -> Iterator[Any]:
        yield self.source


class SftpStorage(Storage):
    """Backups in a directory on an SFTP server: `directory/backups/*.enc` with their `.sha256` sidecars.

    One SSH connection per storage object, opened on first use and reopened after it is lost;
    `close()` (or the context manager) ends it. Like the SFTP client it wraps, an object is meant
    for one thread at a time (open streams included); use one storage object per worker thread.
    """

    kind = "sftp"

    def __init__(self, name: str, host: str, username: str, directory: str, *, port: int = SFTP_DEFAULT_PORT,
                 auth: str = "password", host_key_fingerprint: str | None = None, host_key_type: str | None = None,
                 secrets: Callable[[str], str | None] | None = None, quota: int | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT, io_timeout: float = IO_TIMEOUT) -> None:
        super().__init__(name, quota)
        if auth not in AUTH_METHODS:
            raise UsageError(f"Unknown SFTP authentication '{auth}'; choose password or key.")
        self.host = host
        self.port = int(port)
        self.username = username
        self.auth = auth
        directory = (directory or "").strip()
        if directory in ("~", "~/"):
            directory = ""
        elif directory.startswith("~/"):
            directory = directory[2:]
        self.directory = posixpath.normpath(directory) if directory else ""
        if self.directory == ".":
            self.directory = ""
        self.host_key_fingerprint = normalize_fingerprint(host_key_fingerprint) if host_key_fingerprint else None
        self.host_key_type = host_key_type
        self._secrets = secrets or (lambda name: None)
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._lock = threading.RLock()
        self._client: paramiko.SSHClient | None = None
        self._sftp_client: paramiko.SFTPClient | None = None
        self._read_block = READ_BLOCK
        self._write_block = WRITE_BLOCK

    # -- connection ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return _endpoint(self.host, self.port)

    def _secret(self, name: str, what: str) -> str:
        value = self._secrets(name)
        if not value:
            raise SecretUnavailableError(f"The {what} of target '{self.name}' is not in the OS keyring.",
                                         hint="Unlock the keyring, or recreate the target to store it again.")
        return value

    def _auth_source(self) -> Any:
        if self.auth == "password":
            password = self._secret("password", "SFTP password")
            return Password(self.username, lambda: password)
        key_text = self._secret("private_key", "SSH private key")
        return InMemoryPrivateKey(self.username, load_private_key(key_text, self._secrets("passphrase")))

    def _transport_factory(self, sock: socket.socket, **kwargs: Any) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        transport.handshake_timeout = self.connect_timeout
        options = transport.get_security_options()
        options.key_types = _preferred_key_types(list(options.key_types), self.host_key_type)
        options.ciphers = _preferred_ciphers(list(options.ciphers))
        return transport

    def _sftp(self, reconnect: bool = True) -> paramiko.SFTPClient:
        with self._lock:
            client, sftp = self._client, self._sftp_client
            if client is not None and sftp is not None:
                transport = client.get_transport()
                if transport is not None and transport.is_active():
                    return sftp
            if not reconnect:
                raise StorageError(f"The connection to {self.endpoint} was lost.")
            self.close()
            self._client, self._sftp_client = self._connect()
            return self._sftp_client

    def _connect(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        if not self.host_key_fingerprint:
            # Refuse before authenticating: show what the server presents so the user can confirm it.
            raise untrusted_error(self.host, self.port, fetch_host_key(self.host, self.port, self.connect_timeout),
                                  self.name)
        source = self._auth_source()  # a bad private key or passphrase fails here, before any connection
        sock = _open_socket(self.host, self.port, self.connect_timeout)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_PinnedHostKey(self))
        try:
            client.connect(self.host, self.port, username=self.username, sock=sock, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=AUTH_TIMEOUT,
                           channel_timeout=self.connect_timeout, look_for_keys=False, allow_agent=False,
                           auth_strategy=_OneMethod(source), transport_factory=self._transport_factory)
            transport = client.get_transport()
            if transport is None or not transport.is_authenticated():
                raise AuthenticationFailedError(
                    f"{self.endpoint} wants more than one authentication step for user '{self.username}' "
                    "(e.g. a key and a password); this target uses exactly one.",
                    hint="Ask the administrator to allow a single method for this account.")
            sftp = paramiko.SFTPClient.from_transport(transport, window_size=CHANNEL_WINDOW,
                                                      max_packet_size=CHANNEL_PACKET)
            if sftp is None:
                raise StorageError(f"{self.endpoint} refused to open an SFTP session.",
                                   hint="Check that the server's SFTP subsystem is enabled for this account.")
            sftp.get_channel().settimeout(self.io_timeout)
        except (HostKeyUntrustedError, HostKeyChangedError, AuthenticationFailedError):
            client.close()
            raise
        except AuthFailure as exc:
            client.close()
            raise self._auth_error(exc) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise self._auth_error(exc) from None
        except paramiko.ChannelException:
            client.close()
            raise StorageError(f"{self.endpoint} accepted the login but refused to open an SFTP session.",
                               hint="Ask the administrator to enable the SFTP subsystem for this account.") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            client.close()
            raise _handshake_failed(self.host, self.port, exc) from None
        try:
            self._check_directory(sftp)
        except BaseException:
            client.close()
            raise
        self._read_block, self._write_block = _server_limits(sftp)
        return client, sftp

    def _auth_error(self, exc: BaseException) -> AuthenticationFailedError:
        causes = [r.result for r in getattr(exc, "result", [])] or [exc]
        method = "password" if self.auth == "password" else "private key"
        for cause in causes:
            if isinstance(cause, paramiko.BadAuthenticationType):
                allowed = ", ".join(cause.allowed_types) or "none"
                return AuthenticationFailedError(
                    f"{self.endpoint} does not accept {method} logins for user '{self.username}' "
                    f"(it allows: {allowed}).",
                    hint="Recreate the target with an authentication method the server allows.")
        return AuthenticationFailedError(
            f"{self.endpoint} refused the {method} for user '{self.username}' (authentication failed).",
            hint=(f"Check the username and the {method}"
                  + (" (and that its public key is in the account's authorized_keys)" if self.auth == "key" else "")
                  + "; recreate the target with the right one."))

    def _check_directory(self, sftp: paramiko.SFTPClient) -> None:
        folder = self.directory or "."
        shown = self.directory or "the login (home) directory"
        try:
            st = sftp.stat(folder)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise StorageError(f"The directory {shown} does not exist on {self.endpoint}.",
                                   hint="Create it on the server, or fix the target's directory.") from None
            if exc.errno == errno.EACCES:
                raise StorageError(f"Permission denied to the directory {shown} on {self.endpoint} "
                                   f"for user '{self.username}'.",
                                   hint="Give the user access to that directory, or choose another one.") from None
            raise self._translate(exc, "opening the directory", "") from None
        if st.st_mode is not None and not _stat.S_ISDIR(st.st_mode):
            raise StorageError(f"{shown} on {self.endpoint} is not a directory.",
                               hint="Fix the target's directory.")

    def close(self) -> None:
        """End the SSH connection (its SFTP session and streams with it); the next call reconnects."""
        with self._lock:
            client, self._client, self._sftp_client = self._client, None, None
        if client is not None:
            client.close()

    # -- paths and errors ---------------------------------------------------------------------

    def _remote(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise UsageError(f"'{key}' is not a valid object key.")
        return posixpath.join(self.directory, key) if self.directory else key

    def location(self, key: str) -> str:
        path = self._remote(key)
        shown = path if path.startswith("/") else f"/~/{path}"
        return f"sftp://{self.username}@{self.endpoint}{shown}"

    def _connection_alive(self) -> bool:
        client = self._client
        transport = client.get_transport() if client is not None else None
        return transport is not None and transport.is_active()

    def _translate(self, exc: BaseException, action: str, key: str) -> RecoveryError:
        """A paramiko/socket failure as the project error a user can act on; never includes secrets."""
        if isinstance(exc, RecoveryError):
            return exc  # type: ignore[return-value]
        where = self.location(key) if key else f"{self.directory or 'the home directory'} on {self.endpoint}"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            self.close()
            return StorageError(f"{self.endpoint} stopped answering while {action} {where} "
                                f"(no reply for {self.io_timeout:g} s).",
                                hint="Check the network and the server, then try again; nothing partial was kept.")
        if isinstance(exc, OSError) and exc.errno == errno.EACCES:
            verb = action.split()[0]
            needs = {"writing": "write permission on the folder",
                     "creating": "write permission on the parent folder",
                     "checking": "access to the folders on the way",
                     "finishing": "write permission on the folder",
                     "reading": "read permission on the file",
                     "deleting": "write permission on the folder holding it",
                     "listing": "read permission on the folder"}.get(verb, "access")
            return StorageError(f"Permission denied while {action} {where} (user '{self.username}').",
                                hint=f"Give user '{self.username}' {needs} on the server, or choose another directory.")
        writing = action.startswith(("writing", "creating", "finishing"))
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT and writing:
            return StorageError(f"A folder vanished on {self.endpoint} while {action} {where}.",
                                hint="Another client may be removing folders there; try again.")
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
            return NotFoundError(f"{where} does not exist.",
                                 hint="Refresh the backup list; it may have been removed on the server.")
        if isinstance(exc, EOFError) or not self._connection_alive():  # EOFError: paramiko saw the channel end
            self.close()
            return StorageError(f"The connection to {self.endpoint} was lost while {action} {where}.",
                                hint="Check that the server is up and reachable, then try again; "
                                     "nothing partial was kept.")
        text = str(exc) or type(exc).__name__
        if writing:
            lowered = text.lower()
            try:
                free = self.free_space()
            except RecoveryError:
                free = None
            if "space" in lowered or "quota" in lowered or (free is not None and free < (1 << 20)):
                return QuotaExceededError(
                    f"The server's disk holding {where} is full while {action} it"
                    + (f" ({free:,} bytes free)." if free is not None else "."),
                    hint="Free space on the server or choose another target; nothing partial was kept.")
        return StorageError(f"{self.endpoint} refused {action} {where}: {text}.",
                            hint="Check the directory's permissions and free space on the server.")

    def _makedirs(self, sftp: paramiko.SFTPClient, folder: str, key: str) -> None:
        """`mkdir -p` of the key's parent folders below the working directory."""
        missing: list[str] = []
        probe = folder
        base = self.directory
        while probe and probe != base and probe not in (".", "/"):
            try:
                st = sftp.stat(probe)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    missing.append(probe)
                    probe = posixpath.dirname(probe)
                    continue
                raise self._translate(exc, f"checking the folder {probe} for", key) from None
            except Exception as exc:
                raise self._translate(exc, "writing", key) from None
            if st.st_mode is not None and not _stat.S_ISDIR(st.st_mode):
                raise StorageError(f"{probe} on {self.endpoint} is a file, not a folder; cannot store {key} there.",
                                   hint="Remove or rename that file on the server.")
            break
        for path in reversed(missing):
            try:
                sftp.mkdir(path)
            except OSError as exc:
                try:  # another client may have created it meanwhile
                    if _stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                        continue
                except Exception:
                    pass
                raise self._translate(exc, f"creating the folder {path} for", key) from None
            except Exception as exc:
                raise self._translate(exc, "writing", key) from None

    def _rename_into_place(self, tmp: str, final: str) -> None:
        """Atomically replace `final` with `tmp` using the posix-rename@openssh.com extension.

        A server without that extension only offers SFTP v3 RENAME, which fails when the
        destination exists. Then an existing destination is removed first and the rename retried.
        That is acceptable here, not atomic in general: readers still never see a partial object
        (the data was complete under its hidden name before the swap), and backup keys are unique
        (time stamp + random id) and written once, so the only overwritten objects are probes; the
        cost is a brief moment in which a replaced key is absent, and a crash in that moment would
        lose the old version of a key being rewritten, which this application never does.
        """
        sftp = self._sftp(reconnect=False)
        try:
            sftp.posix_rename(tmp, final)
            return
        except OSError as exc:
            if exc.errno is not None or "unsupported" not in str(exc).lower():
                raise
        try:
            sftp.rename(tmp, final)
        except OSError:
            try:
                sftp.remove(final)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            sftp.rename(tmp, final)

    # -- Storage interface ----------------------------------------------------------------------

    def open_upload(self, key: str) -> Upload:
        return _SftpUpload(self, key)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> BinaryIO:
        path = self._remote(key)
        try:
            sftp = self._sftp()
            file = sftp.open(path, "rb")
        except Exception as exc:
            raise self._translate(exc, "reading", key) from None
        try:
            size = file.stat().st_size or 0
        except Exception as exc:
            file.close()
            raise self._translate(exc, "reading", key) from None
        stop = size if end is None else min(end, size)
        return _SftpReader(self, key, file, min(start, stop), stop, self._read_block)  # type: ignore[return-value]

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        sftp = self._sftp()
        trimmed = prefix.strip("/")
        folder = self._remote(trimmed) if trimmed else (self.directory or ".")
        yield from self._walk(sftp, folder, trimmed)

    def _walk(self, sftp: paramiko.SFTPClient, folder: str, key_prefix: str) -> Iterator[ObjectInfo]:
        try:
            entries = sftp.listdir_attr(folder)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            raise self._translate(exc, "listing", key_prefix) from None
        except Exception as exc:
            raise self._translate(exc, "listing", key_prefix) from None
        for entry in sorted(entries, key=lambda e: e.filename):
            if entry.filename.startswith("."):
                continue
            key = f"{key_prefix}/{entry.filename}" if key_prefix else entry.filename
            mode = entry.st_mode or 0
            if _stat.S_ISDIR(mode):
                yield from self._walk(sftp, posixpath.join(folder, entry.filename), key)
            elif _stat.S_ISREG(mode):
                yield ObjectInfo(key=key, size=entry.st_size or 0, mtime=float(entry.st_mtime or 0))

    def stat(self, key: str) -> ObjectInfo:
        path = self._remote(key)
        try:
            st = self._sftp().stat(path)
        except Exception as exc:
            raise self._translate(exc, "reading", key) from None
        if not _stat.S_ISREG(st.st_mode or 0):
            raise NotFoundError(f"{self.location(key)} is not a file.")
        return ObjectInfo(key=key, size=st.st_size or 0, mtime=float(st.st_mtime or 0))

    def delete(self, key: str) -> None:
        path = self._remote(key)
        try:
            self._sftp().remove(path)
        except Exception as exc:
            raise self._translate(exc, "deleting", key) from None

    def free_space(self) -> int | None:
        """Free bytes for this user from the server's statvfs@openssh.com extension, if it offers one."""
        try:
            sftp = self._sftp()
            kind, msg = sftp._request(CMD_EXTENDED, "statvfs@openssh.com", self.directory or ".")
            if kind != CMD_EXTENDED_REPLY:
                return None
            _bsize, frsize, _blocks, _bfree, bavail = (msg.get_int64() for _ in range(5))
            return int(bavail * frsize)
        except StorageError:
            raise
        except Exception:
            return None


def _preferred_ciphers(offered: list[str]) -> list[str]:
    """AES-GCM first: paramiko then needs no per-packet HMAC, which costs more CPU than the transfer."""
    gcm = [c for c in ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com") if c in offered]
    return gcm + [c for c in offered if c not in gcm]


def _server_limits(sftp: paramiko.SFTPClient) -> tuple[int, int]:
    """(READ size, WRITE size) to use: what limits@openssh.com announces, else the safe 32 KiB each."""
    try:
        kind, msg = sftp._request(CMD_EXTENDED, "limits@openssh.com")
        if kind != CMD_EXTENDED_REPLY:
            return READ_BLOCK, WRITE_BLOCK
        msg.get_int64()  # max-packet-length
        max_read, max_write = msg.get_int64(), msg.get_int64()
    except Exception:
        return READ_BLOCK, WRITE_BLOCK
    read = max(READ_BLOCK, min(MAX_READ_BLOCK, int(max_read))) if max_read > 0 else READ_BLOCK
    write = max(WRITE_BLOCK, min(MAX_WRITE_BLOCK, int(max_write))) if max_write > 0 else WRITE_BLOCK
    return read, write


def from_config(config: TargetConfig, secrets: Callable[[str], str | None]) -> SftpStorage:
    """Options: host, port, username, auth ('password'|'key'), directory, host_key_fingerprint, host_key_type."""
    options = config.options
    auth = options.get("auth") or "password"
    return SftpStorage(
        config.name, options["host"], options["username"], options.get("directory", ""),
        port=int(options.get("port") or SFTP_DEFAULT_PORT), auth=auth,
        host_key_fingerprint=options.get("host_key_fingerprint"), host_key_type=options.get("host_key_type"),
        secrets=secrets, quota=config.quota,
    )
