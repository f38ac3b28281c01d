"""A folder on an SFTP server as a storage target (paramiko), with trust-on-first-use host keys.

Keys are '/'-separated paths relative to the target's working directory. Writes go to a hidden
temporary name in the destination folder and are renamed into place when complete, so a
half-written backup is never listed. The server's host key must have been confirmed by the user
(its SHA256 fingerprint is pinned in the target's settings): an unpinned target refuses to connect,
and a server presenting another key is refused with both fingerprints shown.

Authentication is exactly one method, the one configured: a password, or an OpenSSH private key
(Ed25519, ECDSA or RSA, optionally passphrase-protected) held as text. No SSH agent, no key files
from ~/.ssh, no fallback from one method to the other, no interactive prompt.

Host keys are in sftp_hostkeys.py, private keys in sftp_keys.py, and the pipelined uploads and
reads in sftp_transfer.py.
"""

from __future__ import annotations

import errno
import logging
import posixpath
import socket
import stat as _stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import paramiko
from paramiko.auth_strategy import AuthFailure, AuthStrategy, InMemoryPrivateKey, Password
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY

from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.storage.base import ObjectInfo, Storage, Upload, folder_not_empty, stale_part
from recovery_console.engine.storage.sftp_hostkeys import (
    CONNECT_TIMEOUT,
    HostKeyChangedError,
    HostKeyUntrustedError,
    PinnedHostKey,
    fetch_host_key,
    handshake_failed,
    host_port,
    normalize_fingerprint,
    open_socket,
    preferred_key_types,
    untrusted_error,
)
from recovery_console.engine.storage.sftp_keys import load_private_key
from recovery_console.engine.storage.sftp_transfer import (
    READ_BLOCK,
    WRITE_BLOCK,
    SftpReader,
    SftpUpload,
    server_limits,
)
from recovery_console.errors import (
    NotFoundError,
    QuotaExceededError,
    RecoveryError,
    SecretUnavailableError,
    StorageError,
    UsageError,
)
from recovery_console.models.target import SFTP_DEFAULT_PORT, TargetConfig

log = logging.getLogger(__name__)

AUTH_TIMEOUT = 15.0
"""Seconds for the authentication exchange (a refused password costs the server's PAM delay, ~2-3 s)."""
CHANNEL_WINDOW = 16 << 20
CHANNEL_PACKET = 256 << 10
IO_TIMEOUT = 30.0
"""Seconds the server may stay silent during a file operation before the connection counts as lost."""
AUTH_METHODS = ("password", "key")

# paramiko logs failed handshakes with tracebacks at ERROR level; with no handler configured,
# Python's last-resort handler would print them on the user's terminal next to our own message.
# A NullHandler keeps them out of the terminal; an application that configures logging still gets them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class AuthenticationFailedError(StorageError):
    """The SSH server refused the configured password or private key."""


class _OneMethod(AuthStrategy):  # type: ignore[misc]  # paramiko has no type stubs: its classes are Any
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
        return host_port(self.host, self.port)

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
        options.key_types = preferred_key_types(list(options.key_types), self.host_key_type)
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
        sock = open_socket(self.host, self.port, self.connect_timeout)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(PinnedHostKey(self.host, self.port, self.host_key_fingerprint,
                                                         self.host_key_type, self.name))
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
            raise handshake_failed(self.host, self.port, exc) from None
        try:
            self._check_directory(sftp)
        except BaseException:
            client.close()
            raise
        self._read_block, self._write_block = server_limits(sftp)
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
            raise self.translate(exc, "opening the directory", "") from None
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
        """An object's sftp:// URL; a folder's (a key prefix ending in '/', as a recovery set's) keeps its '/'."""
        path = self._remote(key.removesuffix("/")) + ("/" if key.endswith("/") else "")
        shown = path if path.startswith("/") else f"/~/{path}"
        return f"sftp://{self.username}@{self.endpoint}{shown}"

    def _connection_alive(self) -> bool:
        client = self._client
        transport = client.get_transport() if client is not None else None
        return transport is not None and transport.is_active()

    def translate(self, exc: BaseException, action: str, key: str) -> RecoveryError:
        """A paramiko/socket failure as the project error a user can act on; never includes secrets."""
        if isinstance(exc, RecoveryError):
            return exc
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
                raise self.translate(exc, f"checking the folder {probe} for", key) from None
            except Exception as exc:
                raise self.translate(exc, "writing", key) from exc
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
                    log.debug("%s: checking %s after mkdir failed", self.endpoint, path, exc_info=True)
                raise self.translate(exc, f"creating the folder {path} for", key) from None
            except Exception as exc:
                raise self.translate(exc, "writing", key) from exc

    def rename_into_place(self, tmp: str, final: str) -> None:
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

    def discard(self, path: str) -> None:
        """Remove a leftover file over the open connection, never reconnecting (cleanup after a failure)."""
        self._sftp(reconnect=False).remove(path)

    # -- Storage interface ----------------------------------------------------------------------

    def open_upload(self, key: str) -> Upload:
        final = self._remote(key)
        sftp = self._sftp()
        self._makedirs(sftp, posixpath.dirname(final), key)
        return SftpUpload(self, sftp, key, final, self._write_block)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadableFile:
        path = self._remote(key)
        sftp = self._sftp()
        try:
            file = sftp.open(path, "rb")
        except Exception as exc:
            raise self.translate(exc, "reading", key) from exc
        try:
            size = file.stat().st_size or 0
        except Exception as exc:
            file.close()
            raise self.translate(exc, "reading", key) from exc
        stop = size if end is None else min(end, size)
        return SftpReader(self, key, file, min(start, stop), stop, self._read_block)

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
            raise self.translate(exc, "listing", key_prefix) from None
        except Exception as exc:
            raise self.translate(exc, "listing", key_prefix) from exc
        now = time.time()
        for entry in sorted(entries, key=lambda e: e.filename):
            mode = entry.st_mode or 0
            if _stat.S_ISREG(mode) and stale_part(entry.filename, float(entry.st_mtime or 0), now):
                self._sweep(sftp, posixpath.join(folder, entry.filename))
            if entry.filename.startswith("."):
                continue
            key = f"{key_prefix}/{entry.filename}" if key_prefix else entry.filename
            if _stat.S_ISDIR(mode):
                yield from self._walk(sftp, posixpath.join(folder, entry.filename), key)
            elif _stat.S_ISREG(mode):
                yield ObjectInfo(key=key, size=entry.st_size or 0, mtime=float(entry.st_mtime or 0))

    @staticmethod
    def _sweep(sftp: paramiko.SFTPClient, path: str) -> None:
        """Remove a part file a killed upload left (base.stale_part); one that will not go stays hidden."""
        try:
            sftp.remove(path)
        except Exception as exc:  # noqa: BLE001 - a listing does not fail for a leftover it could not remove
            log.debug("A stale part file %s was not removed: %s", path, exc)

    def stat(self, key: str) -> ObjectInfo:
        path = self._remote(key)
        sftp = self._sftp()
        try:
            st = sftp.stat(path)
        except Exception as exc:
            raise self.translate(exc, "reading", key) from exc
        if not _stat.S_ISREG(st.st_mode or 0):
            raise NotFoundError(f"{self.location(key)} is not a file.")
        return ObjectInfo(key=key, size=st.st_size or 0, mtime=float(st.st_mtime or 0))

    def delete(self, key: str) -> None:
        path = self._remote(key)
        sftp = self._sftp()
        try:
            sftp.remove(path)
        except Exception as exc:
            raise self.translate(exc, "deleting", key) from exc

    def remove_empty_folder(self, prefix: str) -> None:
        path = self._remote(prefix.rstrip("/"))
        sftp = self._sftp()
        try:
            sftp.rmdir(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            with suppress(OSError):  # the protocol's bare "Failure" for a folder that still holds something
                if names := sftp.listdir(path):
                    raise folder_not_empty(self.location(prefix), names) from None
            raise self.translate(exc, "removing the folder", prefix) from None
        except Exception as exc:
            raise self.translate(exc, "removing the folder", prefix) from exc

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
            log.debug("%s: statvfs@openssh.com failed; free space unknown", self.endpoint, exc_info=True)
            return None


def _preferred_ciphers(offered: list[str]) -> list[str]:
    """AES-GCM first: paramiko then needs no per-packet HMAC, which costs more CPU than the transfer."""
    gcm = [c for c in ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com") if c in offered]
    return gcm + [c for c in offered if c not in gcm]


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
