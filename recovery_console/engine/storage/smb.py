"""An SMB3 share (Windows, Samba, a NAS) as a storage target: encrypted sessions only, temp name then rename.

Every call goes through smbprotocol's high-level `smbclient` API with a private connection cache per
(host, port, account, password), so a session this module did not create (or created with other
credentials) is never reused. After each session is set up, `require_encryption` reads what was really
negotiated and refuses anything but SMB 3.x with the session encrypting every message.

The NTSTATUS error mapping is in smb_errors.py; the upload and the pipelined reader in smb_transfer.py.
"""

from __future__ import annotations

import atexit
import builtins
import hashlib
import hmac
import logging
import ntpath
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any, TypeVar

import smbclient
from smbprotocol import Dialects
from smbprotocol.connection import Connection

from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.storage.base import (
    TEMP_PREFIX,
    ObjectInfo,
    Storage,
    Upload,
    folder_not_empty,
    stale_part,
)
from recovery_console.engine.storage.smb_errors import (
    ENCRYPTION_HINT,
    UNSUPPORTED_STATUSES,
    SmbEncryptionUnavailableError,
    Where,
    dialect_name,
    is_lost,
    statuses,
    translate,
)
from recovery_console.engine.storage.smb_transfer import SmbRangeReader, SmbUpload
from recovery_console.errors import (
    NotFoundError,
    RecoveryError,
    SecretUnavailableError,
    StorageError,
    UsageError,
)
from recovery_console.models.target import SMB_DEFAULT_DOMAIN, SMB_DEFAULT_PORT, TargetConfig

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
# Seconds a connection may stay silent before smbprotocol sends an echo; an unanswered echo closes the
# connection after as long again, so a server that hangs fails a transfer instead of blocking it forever.
IDLE_PROBE_SECONDS = 60
_BAD_CHARS = set('\\:*?"<>|')

T = TypeVar("T")


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
        except Exception:  # closing a socket that is already gone
            log.debug("disconnecting %s failed", name, exc_info=True)


@atexit.register
def close_all_connections() -> None:
    """Drop every pooled SMB connection (tests, and interpreter exit)."""
    with _POOL_LOCK:
        caches = list(_POOLS.values())
    for cache in caches:
        _close_cache(cache)


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

    def pooled_connection(self) -> Any:
        """The pooled connection to the server, or None when none was opened (or it was dropped)."""
        return self._cache.get(self._cache_key())

    def _cache_key(self) -> str:
        return f"{self.host.lower()}:{self.port}"

    def session(self) -> Any:
        """The pooled SMB session for this account, connected and checked to be SMB3-encrypted."""
        key = self._cache_key()
        connection = self.pooled_connection()
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
                except Exception:  # the original failure is the one to report
                    log.debug("cleaning up the failed connection to %s failed", key, exc_info=True)
                raise
            self._cache[key] = connection
        session = smbclient.register_session(self.host, **self._kwargs())
        require_encryption(session, self.host, self.port)
        return session

    def drop_connection(self) -> None:
        """Forget the pooled connection (it will be reopened on the next call)."""
        _close_cache(self._cache)

    def close(self) -> None:
        """End the SMB connection of this account on this server (shared by storages with the same account
        and password); the next call on any of them reconnects."""
        self.drop_connection()

    def failure(self, exc: BaseException, where: Where) -> RecoveryError:
        """`exc` as a project error; a lost connection is dropped first, so the next call reconnects."""
        error = translate(self, exc, where)
        if is_lost(exc):
            self.drop_connection()
        return error

    def _run(self, where: Where, action: Callable[[], T], retry: bool = True) -> T:
        """Run one SMB operation; reconnect once if the connection had dropped, map failures to our errors."""
        for attempt in (1, 2):
            try:
                self.session()
            except Exception as exc:  # no usable session: connect, logon or encryption failed
                error = exc if isinstance(exc, RecoveryError) else translate(self, exc, where)
                # smbprotocol leaves a session that failed its own encryption check in the connection's table
                # (and would hand it out next time), so the whole connection goes.
                self.drop_connection()
                if retry and attempt == 1 and is_lost(exc):
                    continue
                if error is exc:
                    raise
                raise error from exc
            try:
                return action()
            except RecoveryError:
                raise
            except Exception as exc:  # every library failure becomes a StorageError below
                if is_lost(exc):
                    self.drop_connection()
                    if retry and attempt == 1:
                        continue
                raise translate(self, exc, where) from exc
        raise AssertionError("unreachable")

    def rename_into_place(self, temp: str, final: str) -> None:
        """Replace `final` with a finished temp file; not retried, since a lost connection may have done it."""
        self._run(Where("finishing", final, "write and rename files"),
                  lambda: smbclient.replace(temp, final, **self._kwargs()), retry=False)

    def discard(self, path: str) -> None:
        """Remove a leftover temp file; a failure comes as a project error."""
        self._run(Where("removing", path, "delete files"), lambda: smbclient.remove(path, **self._kwargs()))

    def _missing_base(self) -> StorageError:
        return StorageError(f"The folder '{self.directory}' does not exist on the share '{self.share}' "
                            f"({self.host}:{self.port}).",
                            hint="Create it on the share, or fix the target's directory setting.")

    def _check_base(self) -> None:
        """The configured folder must exist (it is never created: a typo must not silently start a new one)."""
        if self._base_checked or not self.directory:
            self._base_checked = True
            return
        where = Where("opening", self.unc(), "read")
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
        where = Where("creating a file in", folder, "write")
        if len(parts) > 1:
            self._run(where, lambda: smbclient.makedirs(folder, exist_ok=True, **self._kwargs()))
        temp = self.unc(*parts[:-1], f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}")
        raw = self._run(where, lambda: smbclient.open_file(temp, mode="xb", buffering=0, **self._kwargs()))
        return SmbUpload(self, raw, temp, final)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadableFile:
        path = self._path(key)
        where = Where("opening", path, "read")
        try:
            raw = self._run(where, lambda: smbclient.open_file(path, mode="rb", buffering=0, share_access="r",
                                                               **self._kwargs()))
        except NotFoundError:
            self._check_base()
            raise
        return SmbRangeReader(self, raw, path, start, end)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        key_prefix = prefix.strip("/")
        parts = self._parts(key_prefix, allow_empty=True)
        folder = self.unc(*parts)
        where = Where("listing", folder, "list its contents")
        try:
            found = self._run(where, lambda: self._walk(folder, "/".join(parts)))
        except NotFoundError:
            self._base_checked = False
            self._check_base()
            return iter(())
        return iter(found)

    def _walk(self, folder: str, key_prefix: str) -> builtins.list[ObjectInfo]:
        found: list[ObjectInfo] = []
        with smbclient.scandir(folder, **self._kwargs()) as entries:
            items = list(entries)
        now = time.time()
        for entry in items:
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False) \
                    and stale_part(entry.name, entry.smb_info.last_write_time.timestamp(), now):
                self._sweep(ntpath.join(folder, entry.name))
            if entry.name.startswith("."):
                continue
            key = f"{key_prefix}/{entry.name}" if key_prefix else entry.name
            if entry.is_dir(follow_symlinks=False):
                found.extend(self._walk(ntpath.join(folder, entry.name), key))
            elif entry.is_file(follow_symlinks=False):
                info = entry.smb_info
                found.append(ObjectInfo(key=key, size=info.end_of_file, mtime=info.last_write_time.timestamp()))
        return found

    def _sweep(self, path: str) -> None:
        """Remove a part file a killed upload left (base.stale_part); one that will not go stays hidden."""
        try:
            smbclient.remove(path, **self._kwargs())
        except Exception as exc:  # noqa: BLE001 - a listing does not fail for a leftover it could not remove
            log.debug("A stale part file %s was not removed: %s", path, exc)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        info = self._run(Where("reading", path, "read"), lambda: smbclient.stat(path, **self._kwargs()))
        if info.st_mode & 0o040000:
            raise NotFoundError(f"{path} is a folder, not a backup.")
        # Microseconds, as the directory listing reports them, so stat and list agree on an object's identity.
        return ObjectInfo(key=key, size=info.st_size, mtime=(info.st_mtime_ns // 1000) / 1_000_000)

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._run(Where("deleting", path, "delete files"), lambda: smbclient.remove(path, **self._kwargs()))

    def remove_empty_folder(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        where = Where("removing the folder", path, "delete folders")
        try:
            self._run(where, lambda: smbclient.rmdir(path, **self._kwargs()))
        except NotFoundError:
            return
        except StorageError:
            if names := self._run(where, lambda: smbclient.listdir(path, **self._kwargs())):
                raise folder_not_empty(path, names) from None
            raise

    def free_space(self) -> int | None:
        folder = self.unc()
        try:
            volume = self._run(Where("asking the free space of", folder, "read"),
                               lambda: smbclient.stat_volume(folder, **self._kwargs()))
        except NotFoundError:
            raise self._missing_base() from None
        except StorageError as exc:
            found = statuses(exc.__cause__) if exc.__cause__ else []
            if any(s in UNSUPPORTED_STATUSES for s in found):
                return None
            raise
        return int(volume.caller_available_size)


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
