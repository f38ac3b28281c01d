"""An SMB3 share (Windows, Samba, a NAS) as a storage target: encrypted sessions only, temp name then rename.

Every call goes through smbprotocol's high-level `smbclient` API with a private connection cache per
(host, port, account, password), so a session this module did not create (or created with other
credentials) is never reused. After each session is set up, `require_encryption` reads what was really
negotiated and refuses anything but SMB 3.x with the session encrypting every message.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import hmac
import ntpath
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, BinaryIO, TypeVar

import smbclient
from smbprotocol import Dialects
from smbprotocol.connection import Connection
from smbprotocol.exceptions import (
    SMBAuthenticationError,
    SMBConnectionClosed,
    SMBException,
    SMBOSError,
    SMBResponseException,
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
from recovery_console.models.target import SMB_DEFAULT_DOMAIN, SMB_DEFAULT_PORT, TargetConfig

CONNECT_TIMEOUT = 10.0
# Seconds a connection may stay silent before smbprotocol sends an echo; an unanswered echo closes the
# connection after as long again, so a server that hangs fails a transfer instead of blocking it forever.
IDLE_PROBE_SECONDS = 60
TEMP_PREFIX = ".rc-part-"
_BAD_CHARS = set('\\:*?"<>|')
WRITE_BLOCK = 1 << 20
READ_PIECE = 1 << 20
READ_DEPTH = 4  # READ requests in flight per open file: the link stays busy while an answer is copied out
CREDIT_BYTES = 65536  # what one SMB2 credit pays for in a multi-credit READ (MS-SMB2 3.1.5.2)

T = TypeVar("T")

# NTSTATUS values (MS-ERREF) this module tells apart; not all of them are in smbprotocol's NtStatus.
_ACCESS_DENIED = 0xC0000022
_PRIVILEGE_NOT_HELD = 0xC0000061
_NETWORK_ACCESS_DENIED = 0xC00000CA
_CANNOT_DELETE = 0xC0000121
_DISK_FULL = 0xC000007F
_QUOTA_EXCEEDED = 0xC0000044
_LOGON_FAILURE = 0xC000006D
_WRONG_PASSWORD = 0xC000006A
_NO_SUCH_USER = 0xC0000064
_ACCOUNT_RESTRICTION = 0xC000006E
_PASSWORD_EXPIRED = 0xC0000071
_ACCOUNT_DISABLED = 0xC0000072
_ACCOUNT_LOCKED_OUT = 0xC0000234
_PASSWORD_MUST_CHANGE = 0xC0000224
_BAD_NETWORK_NAME = 0xC00000CC
_OBJECT_NAME_NOT_FOUND = 0xC0000034
_OBJECT_PATH_NOT_FOUND = 0xC000003A
_NO_SUCH_FILE = 0xC000000F
_SHARING_VIOLATION = 0xC0000043
_NETWORK_NAME_DELETED = 0xC00000C9
_USER_SESSION_DELETED = 0xC0000203
_NOT_SUPPORTED = 0xC00000BB
_INVALID_INFO_CLASS = 0xC0000003
_INVALID_PARAMETER = 0xC000000D
_AUTH_STATUSES = {_LOGON_FAILURE, _WRONG_PASSWORD, _NO_SUCH_USER, _ACCOUNT_RESTRICTION, _PASSWORD_EXPIRED,
                  _ACCOUNT_DISABLED, _ACCOUNT_LOCKED_OUT, _PASSWORD_MUST_CHANGE}
_DENIED_STATUSES = {_ACCESS_DENIED, _PRIVILEGE_NOT_HELD, _CANNOT_DELETE}
_MISSING_STATUSES = {_OBJECT_NAME_NOT_FOUND, _OBJECT_PATH_NOT_FOUND, _NO_SUCH_FILE}
_LOST_STATUSES = {_NETWORK_NAME_DELETED, _USER_SESSION_DELETED}

_DIALECTS = {Dialects.SMB_2_0_2: "SMB 2.0.2", Dialects.SMB_2_1_0: "SMB 2.1", Dialects.SMB_3_0_0: "SMB 3.0",
             Dialects.SMB_3_0_2: "SMB 3.0.2", Dialects.SMB_3_1_1: "SMB 3.1.1"}

ENCRYPTION_HINT = (
    "Ask the server's administrator to turn on SMB3 encryption for this share: on Windows "
    "`Set-SmbShare -Name SHARE -EncryptData $true` (or `Set-SmbServerConfiguration -EncryptData $true`); "
    "on Samba `server smb encrypt = required` (or `desired`) with `server min protocol = SMB3`. "
    "Backups are never sent over an unencrypted SMB session."
)


class SmbEncryptionUnavailableError(StorageError):
    """The SMB server could not or would not negotiate SMB3 encryption, so no data was sent."""


def dialect_name(dialect: int | None) -> str:
    if dialect is None:
        return "an unknown SMB dialect"
    return _DIALECTS.get(dialect, f"SMB dialect 0x{dialect:04x}")


def split_account(username: str, domain: str | None = None) -> tuple[str, str]:
    """'DOMAIN\\user' → ('DOMAIN', 'user'); a bare 'user' gets `domain` (default WORKGROUP)."""
    username = username.strip()
    if "\\" in username:
        prefix, user = username.split("\\", 1)
        return (prefix.strip() or domain or SMB_DEFAULT_DOMAIN), user.strip()
    return (domain or SMB_DEFAULT_DOMAIN).strip() or SMB_DEFAULT_DOMAIN, username


def require_encryption(session: Any, host: str, port: int) -> None:
    """Refuse a session unless it negotiated SMB 3.x and encrypts every message it sends.

    `Connection.dialect` is the dialect from the server's NEGOTIATE response; `Connection.supports_encryption`
    is True only when that response offered encryption (the SMB 3.0/3.0.2 capability bit, or a non-zero
    cipher in the SMB 3.1.1 negotiate context); `Session.encrypt_data` is set after SESSION_SETUP and is what
    `Connection.send` consults to wrap each message in an encrypted transform; the encryption and decryption
    keys exist only once they were derived from the authenticated session key.
    """
    connection = session.connection
    dialect = getattr(connection, "dialect", None)
    if dialect is None or dialect < Dialects.SMB_3_0_0:
        raise SmbEncryptionUnavailableError(
            f"The SMB server {host}:{port} could not negotiate SMB3 encryption: it only speaks "
            f"{dialect_name(dialect)}, which cannot encrypt, so no data was sent.",
            hint=ENCRYPTION_HINT,
        )
    if not (getattr(connection, "supports_encryption", False) and getattr(session, "encrypt_data", False)
            and getattr(session, "encryption_key", None) and getattr(session, "decryption_key", None)):
        raise SmbEncryptionUnavailableError(
            f"The SMB server {host}:{port} could not negotiate SMB3 encryption: it agreed on "
            f"{dialect_name(dialect)} but without encrypting the session, so no data was sent.",
            hint=ENCRYPTION_HINT,
        )


# One smbclient connection cache per (host, port, account, password digest). smbclient matches pooled
# sessions by user name only, so a shared cache would let a wrong password ride on a good session.
_POOL_LOCK = threading.Lock()
_POOLS: dict[tuple[str, int, str, str], dict[str, Any]] = {}
_POOL_SALT = os.urandom(16)


def _pool(host: str, port: int, account: str, password: str) -> dict[str, Any]:
    digest = hmac.new(_POOL_SALT, password.encode("utf-8"), hashlib.sha256).hexdigest()
    key = (host.lower(), port, account.lower(), digest)
    with _POOL_LOCK:
        return _POOLS.setdefault(key, {})


def _close_cache(cache: dict[str, Any]) -> None:
    for name in list(cache):
        connection = cache.pop(name, None)
        if connection is None:
            continue
        try:
            connection.disconnect(close=False)
        except Exception:  # noqa: BLE001 - closing a socket that is already gone
            pass


@atexit.register
def close_all_connections() -> None:
    """Drop every pooled SMB connection (tests, and interpreter exit)."""
    with _POOL_LOCK:
        caches = list(_POOLS.values())
    for cache in caches:
        _close_cache(cache)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _statuses(exc: BaseException) -> list[int]:
    found = []
    for item in _chain(exc):
        if isinstance(item, SMBOSError):
            found.append(item.ntstatus)
        elif isinstance(item, SMBResponseException):
            try:
                found.append(item.status)
            except Exception:  # noqa: BLE001 - a malformed header still maps to the generic error
                pass
    return found


def _is_lost(exc: BaseException) -> bool:
    """The connection or session went away (server restart, network drop): worth one reconnect."""
    for item in _chain(exc):
        if isinstance(item, SMBConnectionClosed):
            return True
        if isinstance(item, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return True
        if isinstance(item, OSError) and item.errno in (errno.EBADF, errno.ENOTCONN):
            return True  # smbprotocol's receive thread closed the socket first; a send then meets it closed
        if isinstance(item, SMBException) and "socket was closed" in str(item):
            return True
    return any(status in _LOST_STATUSES for status in _statuses(exc))


@dataclass(frozen=True)
class _Where:
    """What an operation was doing, for messages: 'writing' + the object's UNC path + the right it needs."""

    action: str
    path: str
    right: str


class SmbStorage(Storage):
    """Backups on an SMB share, under an optional folder: `\\\\host\\share\\directory\\backups\\*.enc`."""

    kind = "smb"

    def __init__(self, name: str, *, host: str, share: str, username: str, password: str,
                 port: int = SMB_DEFAULT_PORT, domain: str | None = None, directory: str = "",
                 quota: int | None = None, timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__(name, quota)
        if not host or any(c in host for c in "\\/"):
            raise UsageError(f"'{host}' is not an SMB server name.",
                             hint="Give a host name or address, such as nas.example.org.")
        share = share.strip().strip("\\/")
        if not share or any(c in share for c in "\\/"):
            raise UsageError(f"'{share}' is not an SMB share name.",
                             hint="Give only the share's name, such as backups.")
        if not username:
            raise UsageError("An SMB target needs a user name.")
        self.host = host.strip()
        self.port = int(port)
        self.share = share
        self.domain, self.username = split_account(username, domain)
        self.account = self.username if "@" in self.username else f"{self.domain}\\{self.username}"
        self.directory = "\\".join(self._parts(directory.replace("\\", "/"), allow_empty=True))
        self.timeout = float(timeout)
        self._password = password or ""
        self._cache = _pool(self.host, self.port, self.account, self._password)
        self._base_checked = False

    def __repr__(self) -> str:
        return f"SmbStorage({self.name!r}, {self.unc()!r}, user={self.account!r})"

    # -- paths ------------------------------------------------------------------------------------

    @staticmethod
    def _parts(key: str, allow_empty: bool = False) -> list[str]:
        """A '/'-separated key (or, with allow_empty, a folder that may be empty) as path segments."""
        text = key.strip("/") if allow_empty else key
        parts = [p for p in text.split("/") if p] if allow_empty else list(PurePosixPath(text).parts)
        bad = (not parts and not allow_empty) or (not allow_empty and text.startswith("/")) or any(
            p in ("..", ".") or any(c in _BAD_CHARS for c in p) for p in parts)
        if bad:
            raise UsageError(f"'{key}' is not a usable folder on an SMB share." if allow_empty
                             else f"'{key}' is not a valid object key.")
        return parts

    def unc(self, *parts: str) -> str:
        """The UNC path of the share's folder joined with `parts` (as a Windows user would type it)."""
        segments = [self.share] + ([self.directory] if self.directory else []) + list(parts)
        return f"\\\\{self.host}\\" + "\\".join(segments)

    def _path(self, key: str) -> str:
        return self.unc(*self._parts(key))

    def location(self, key: str) -> str:
        return self._path(key)

    # -- sessions and errors ----------------------------------------------------------------------

    def _kwargs(self) -> dict[str, Any]:
        return {"username": self.account, "password": self._password, "port": self.port, "encrypt": True,
                "connection_timeout": self.timeout, "connection_cache": self._cache}

    def session(self) -> Any:
        """The pooled SMB session for this account, connected and checked to be SMB3-encrypted."""
        key = f"{self.host.lower()}:{self.port}"
        connection = self._cache.get(key)
        if connection is None or not connection.transport.connected:
            # What smbclient.register_session would do, plus a bounded silence: without it a server that
            # hangs after the logon holds a transfer for 20 minutes (smbprotocol's 600 s echo interval).
            connection = Connection(smbclient.ClientConfig().client_guid, self.host, self.port, require_signing=True)
            if hasattr(connection, "_receive_timeout"):
                connection._receive_timeout = IDLE_PROBE_SECONDS
            try:
                connection.connect(timeout=self.timeout)
            except BaseException:
                try:
                    connection.disconnect(close=False)  # stop its receive thread, if it had started
                except Exception:  # noqa: BLE001 - the original failure is the one to report
                    pass
                raise
            self._cache[key] = connection
        session = smbclient.register_session(self.host, **self._kwargs())
        require_encryption(session, self.host, self.port)
        return session

    def drop_connection(self) -> None:
        """Forget the pooled connection (it will be reopened on the next call)."""
        _close_cache(self._cache)

    def close(self) -> None:
        """End the SMB connection this target's account uses; the next call reconnects."""
        self.drop_connection()

    def _run(self, where: _Where, action: Callable[[], T], retry: bool = True) -> T:
        """Run one SMB operation; reconnect once if the connection had dropped, map failures to our errors."""
        for attempt in (1, 2):
            try:
                self.session()
            except Exception as exc:  # noqa: BLE001 - no usable session: connect, logon or encryption failed
                error = exc if isinstance(exc, RecoveryError) else self._translate(exc, where)
                # smbprotocol leaves a session that failed its own encryption check in the connection's table
                # (and would hand it out next time), so the whole connection goes.
                self.drop_connection()
                if retry and attempt == 1 and _is_lost(exc):
                    continue
                if error is exc:
                    raise
                raise error from exc
            try:
                return action()
            except RecoveryError:
                raise
            except Exception as exc:  # noqa: BLE001 - every library failure becomes a StorageError below
                if _is_lost(exc):
                    self.drop_connection()
                    if retry and attempt == 1:
                        continue
                raise self._translate(exc, where) from exc
        raise AssertionError("unreachable")

    def _translate(self, exc: BaseException, where: _Where) -> StorageError:
        """One failure of smbprotocol/smbclient as a project error: what happened and what to do."""
        server = f"{self.host}:{self.port}"
        chain = _chain(exc)
        statuses = _statuses(exc)
        text = " ".join(str(item) for item in chain)

        for item in chain:
            if isinstance(item, socket.gaierror):
                return StorageError(f"Cannot find the SMB server '{self.host}': the name does not resolve.",
                                    hint="Check the host name, or this machine's DNS and network settings.")
            if isinstance(item, ConnectionRefusedError):
                return StorageError(f"The SMB server {server} refused the connection.",
                                    hint="Check that the server is running, that SMB is enabled on it and that "
                                         "the port is right (usually 445).")
            if isinstance(item, (TimeoutError, socket.timeout)) and "Failed to connect" in text:
                return StorageError(f"Connecting to the SMB server {server} timed out after {self.timeout:g} s.",
                                    hint="Check the address, that the server is up, and that no firewall blocks "
                                         "the port.")
        if "Failed to connect to" in text:
            cause = next((i for i in chain if isinstance(i, OSError)), None)
            reason = (cause.strerror or str(cause)) if cause else "network error"
            return StorageError(f"Cannot reach the SMB server {server}: {reason}.",
                                hint="Check the address and port, and that this machine can reach the server.")
        if "Connection timeout of" in text:
            return StorageError(f"The SMB server {server} did not answer within {self.timeout:g} s while "
                                f"{where.action} {where.path}.",
                                hint="Check that the address really is an SMB server and that it is not "
                                     "overloaded, then try again.")
        if "encryption is required but the connection does not support it" in text:
            connection = self._cache.get(f"{self.host.lower()}:{self.port}")
            dialect = getattr(connection, "dialect", None)
            offered = ("it only speaks " + dialect_name(dialect) + ", which cannot encrypt"
                       if dialect is not None and dialect < Dialects.SMB_3_0_0
                       else f"it agreed on {dialect_name(dialect)} but offered no encryption")
            return SmbEncryptionUnavailableError(
                f"The SMB server {server} could not negotiate SMB3 encryption: {offered}, so no data was sent.",
                hint=ENCRYPTION_HINT)
        if "authenticated as a guest" in text:
            return StorageError(f"The SMB server {server} logged '{self.account}' on as a guest, which cannot "
                                "encrypt; the account was not recognised.",
                                hint="Check the user name, domain and password; ask the admin whether the "
                                     "account exists on the server.")
        if any(s in _AUTH_STATUSES for s in statuses) or any(isinstance(i, SMBAuthenticationError) for i in chain):
            return StorageError(f"The SMB server {server} rejected the user name or password for '{self.account}'.",
                                hint="Check the user name, domain and password (passwords are case-sensitive); "
                                     "ask the server's admin whether the account is locked or expired.")
        if _BAD_NETWORK_NAME in statuses:
            return StorageError(f"The share '{self.share}' does not exist on the SMB server {server}.",
                                hint="Check the share's name (only the name, such as backups; the folder "
                                     "inside it goes in the directory setting).")
        if _NETWORK_ACCESS_DENIED in statuses:
            return StorageError(f"'{self.account}' is not allowed to use the share '{self.share}' on {server}.",
                                hint=f"Ask the server's admin to grant '{self.account}' access to the share.")
        if any(s in (_DISK_FULL, _QUOTA_EXCEEDED) for s in statuses) or any(
                isinstance(i, OSError) and i.errno in (errno.ENOSPC, errno.EDQUOT) for i in chain):
            return QuotaExceededError(
                f"The share '{self.share}' on {server} is full (or the quota of '{self.account}' there is used "
                f"up) while {where.action} {where.path}.",
                hint="Free space on the share or ask its admin for more; nothing partial was kept.")
        if any(s in _DENIED_STATUSES for s in statuses):
            return StorageError(f"Permission denied while {where.action} {where.path}.",
                                hint=f"Ask the share's admin to give '{self.account}' permission to "
                                     f"{where.right} there.")
        if _SHARING_VIOLATION in statuses:
            return StorageError(f"{where.path} is in use by another program, so it could not be {where.right}.",
                                hint="Wait for the other program to finish, then try again.")
        if any(s in _MISSING_STATUSES for s in statuses):
            return NotFoundError(f"{where.path} does not exist.",
                                 hint="Refresh the backup list; it may have been removed.")
        if _is_lost(exc):
            return StorageError(f"The connection to the SMB server {server} was lost while {where.action} "
                                f"{where.path}.",
                                hint="Check that the server is running and the network is stable, then try "
                                     "again; nothing partial was kept.")
        detail = next((f"NTSTATUS 0x{s:08X}" for s in statuses), type(exc).__name__)
        return StorageError(f"The SMB server {server} failed while {where.action} {where.path} ({detail}).",
                            hint="Try again; if it keeps failing, show this message to the server's admin.")

    def _missing_base(self) -> StorageError:
        return StorageError(f"The folder '{self.directory}' does not exist on the share '{self.share}' "
                            f"({self.host}:{self.port}).",
                            hint="Create it on the share, or fix the target's directory setting.")

    def _check_base(self) -> None:
        """The configured folder must exist (it is never created: a typo must not silently start a new one)."""
        if self._base_checked or not self.directory:
            self._base_checked = True
            return
        where = _Where("opening", self.unc(), "read")
        try:
            info = self._run(where, lambda: smbclient.stat(self.unc(), **self._kwargs()))
        except NotFoundError:
            raise self._missing_base() from None
        if not info.st_mode & 0o040000:
            raise StorageError(f"{self.unc()} is a file, not a folder.",
                               hint="Fix the target's directory setting.")
        self._base_checked = True

    # -- Storage ----------------------------------------------------------------------------------

    def open_upload(self, key: str) -> Upload:
        parts = self._parts(key)
        self._check_base()
        final = self.unc(*parts)
        folder = self.unc(*parts[:-1])
        where = _Where("creating a file in", folder, "write")
        if len(parts) > 1:
            self._run(where, lambda: smbclient.makedirs(folder, exist_ok=True, **self._kwargs()))
        temp = self.unc(*parts[:-1], f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}")
        raw = self._run(where, lambda: smbclient.open_file(temp, mode="xb", buffering=0, **self._kwargs()))
        return _SmbUpload(self, raw, temp, final)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> BinaryIO:
        path = self._path(key)
        where = _Where("opening", path, "read")
        try:
            raw = self._run(where, lambda: smbclient.open_file(path, mode="rb", buffering=0, share_access="r",
                                                               **self._kwargs()))
        except NotFoundError:
            self._check_base()
            raise
        return _SmbRangeReader(self, raw, path, start, end)  # type: ignore[return-value]

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        key_prefix = prefix.strip("/")
        parts = self._parts(key_prefix, allow_empty=True)
        folder = self.unc(*parts)
        where = _Where("listing", folder, "list its contents")
        try:
            found = self._run(where, lambda: self._walk(folder, "/".join(parts)))
        except NotFoundError:
            self._base_checked = False
            self._check_base()
            return iter(())
        return iter(found)

    def _walk(self, folder: str, key_prefix: str) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        with smbclient.scandir(folder, **self._kwargs()) as entries:
            items = list(entries)
        for entry in items:
            if entry.name.startswith("."):
                continue
            key = f"{key_prefix}/{entry.name}" if key_prefix else entry.name
            if entry.is_dir(follow_symlinks=False):
                found.extend(self._walk(ntpath.join(folder, entry.name), key))
            elif entry.is_file(follow_symlinks=False):
                info = entry.smb_info
                found.append(ObjectInfo(key=key, size=info.end_of_file, mtime=info.last_write_time.timestamp()))
        return found

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        info = self._run(_Where("reading", path, "read"), lambda: smbclient.stat(path, **self._kwargs()))
        if info.st_mode & 0o040000:
            raise NotFoundError(f"{path} is a folder, not a backup.")
        # Microseconds, as the directory listing reports them, so stat and list agree on an object's identity.
        return ObjectInfo(key=key, size=info.st_size, mtime=(info.st_mtime_ns // 1000) / 1_000_000)

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._run(_Where("deleting", path, "delete files"), lambda: smbclient.remove(path, **self._kwargs()))

    def free_space(self) -> int | None:
        folder = self.unc()
        try:
            volume = self._run(_Where("asking the free space of", folder, "read"),
                               lambda: smbclient.stat_volume(folder, **self._kwargs()))
        except NotFoundError:
            raise self._missing_base() from None
        except StorageError as exc:
            statuses = _statuses(exc.__cause__) if exc.__cause__ else []
            if any(s in (_NOT_SUPPORTED, _INVALID_INFO_CLASS, _INVALID_PARAMETER) for s in statuses):
                return None
            raise
        return int(volume.caller_available_size)


class _SmbUpload(Upload):
    """Writes to a hidden temp file beside the final name; `commit` flushes, closes and renames over it."""

    def __init__(self, storage: SmbStorage, raw: Any, temp: str, final: str) -> None:
        self.storage = storage
        self.raw = raw
        self.temp = temp
        self.final = final
        self._buffer = bytearray()
        self._done = False

    def _fail(self, exc: BaseException, action: str) -> StorageError:
        error = self.storage._translate(exc, _Where(action, self.final, "write"))
        if _is_lost(exc):
            self.storage.drop_connection()
        return error

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
        except Exception as exc:  # noqa: BLE001
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
            except Exception as exc:  # noqa: BLE001
                raise self._fail(exc, "finishing") from exc
            self.storage._run(_Where("finishing", self.final, "write and rename files"),
                              lambda: smbclient.replace(self.temp, self.final, **self.storage._kwargs()),
                              retry=False)
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
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass
        try:
            self.storage._run(_Where("removing", self.temp, "delete files"),
                              lambda: smbclient.remove(self.temp, **self.storage._kwargs()))
        except RecoveryError:
            pass


class _SmbRangeReader:
    """Bytes [start, end) of a file on the share, with READ_DEPTH reads of READ_PIECE bytes kept in flight.

    smbclient's own reads wait for each answer before asking again, so every round trip (and the
    server's disk read and encryption) idles the link; here the next requests are already queued
    at the server while an answer is copied out. Credits are asked for so that the depth fits.
    """

    def __init__(self, storage: SmbStorage, raw: Any, path: str, start: int, end: int | None) -> None:
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

    def _fail(self, exc: BaseException) -> StorageError:
        error = self._storage._translate(exc, _Where("reading", self._path, "read"))
        if _is_lost(exc):
            self._storage.drop_connection()
        return error

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
            except Exception as exc:  # noqa: BLE001
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
            except Exception:  # noqa: BLE001 - the connection may already be gone
                break
        self._pending.clear()
        try:
            self._raw.close()
        except Exception:  # noqa: BLE001 - closing after the connection dropped
            pass

    def __enter__(self) -> _SmbRangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def from_config(config: TargetConfig, secrets: Callable[[str], str | None]) -> SmbStorage:
    """Options: host, port (445), share, username, domain (WORKGROUP), directory; secret: password."""
    options = config.options
    password = secrets("password")
    if password is None:
        raise SecretUnavailableError(f"No password is stored for the SMB target '{config.name}'.",
                                     hint="Remove the target and add it again with its password.")
    return SmbStorage(
        config.name, host=str(options.get("host", "")), port=int(options.get("port", SMB_DEFAULT_PORT)),
        share=str(options.get("share", "")), username=str(options.get("username", "")),
        domain=options.get("domain"), directory=str(options.get("directory", "")),
        password=password, quota=config.quota, timeout=float(options.get("timeout", CONNECT_TIMEOUT)),
    )
