"""SMB failures in words a user can act on: NTSTATUS codes and smbprotocol errors mapped to project errors."""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from smbprotocol import Dialects
from smbprotocol.exceptions import (
    SMBAuthenticationError,
    SMBConnectionClosed,
    SMBException,
    SMBOSError,
    SMBResponseException,
)

from recovery_console.errors import NotFoundError, QuotaExceededError, RecoveryError, StorageError

log = logging.getLogger(__name__)

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
UNSUPPORTED_STATUSES = {_NOT_SUPPORTED, _INVALID_INFO_CLASS, _INVALID_PARAMETER}

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


def chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def statuses(exc: BaseException) -> list[int]:
    found = []
    for item in chain(exc):
        if isinstance(item, SMBOSError):
            found.append(item.ntstatus)
        elif isinstance(item, SMBResponseException):
            try:
                found.append(item.status)
            except Exception:  # a malformed header still maps to the generic error
                log.debug("an SMB error without a readable status", exc_info=True)
    return found


def is_lost(exc: BaseException) -> bool:
    """The connection or session went away (server restart, network drop): worth one reconnect."""
    for item in chain(exc):
        if isinstance(item, SMBConnectionClosed):
            return True
        if isinstance(item, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return True
        if isinstance(item, OSError) and item.errno in (errno.EBADF, errno.ENOTCONN):
            return True  # smbprotocol's receive thread closed the socket first; a send then meets it closed
        if isinstance(item, SMBException) and "socket was closed" in str(item):
            return True
    return any(status in _LOST_STATUSES for status in statuses(exc))


@dataclass(frozen=True)
class Where:
    """What an operation was doing, for messages: 'writing' + the object's UNC path + the right it needs."""

    action: str
    path: str
    right: str


class SmbServer(Protocol):
    """What a message says about the target: the server, the share, the account; SmbStorage is one."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def share(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def timeout(self) -> float: ...

    def pooled_connection(self) -> Any:
        """The pooled connection to the server (it tells what was negotiated), or None."""


def translate(storage: SmbServer, exc: BaseException, where: Where) -> RecoveryError:
    """One failure of smbprotocol/smbclient as a project error: what happened and what to do."""
    server = f"{storage.host}:{storage.port}"
    causes = chain(exc)
    found = statuses(exc)
    text = " ".join(str(item) for item in causes)

    for item in causes:
        if isinstance(item, socket.gaierror):
            return StorageError(f"Cannot find the SMB server '{storage.host}': the name does not resolve.",
                                hint="Check the host name, or this machine's DNS and network settings.")
        if isinstance(item, ConnectionRefusedError):
            return StorageError(f"The SMB server {server} refused the connection.",
                                hint="Check that the server is running, that SMB is enabled on it and that "
                                     "the port is right (usually 445).")
        if isinstance(item, (TimeoutError, socket.timeout)) and "Failed to connect" in text:
            return StorageError(f"Connecting to the SMB server {server} timed out after {storage.timeout:g} s.",
                                hint="Check the address, that the server is up, and that no firewall blocks "
                                     "the port.")
    if "Failed to connect to" in text:
        cause = next((i for i in causes if isinstance(i, OSError)), None)
        reason = (cause.strerror or str(cause)) if cause else "network error"
        return StorageError(f"Cannot reach the SMB server {server}: {reason}.",
                            hint="Check the address and port, and that this machine can reach the server.")
    if "Connection timeout of" in text:
        return StorageError(f"The SMB server {server} did not answer within {storage.timeout:g} s while "
                            f"{where.action} {where.path}.",
                            hint="Check that the address really is an SMB server and that it is not "
                                 "overloaded, then try again.")
    if "encryption is required but the connection does not support it" in text:
        connection = storage.pooled_connection()
        dialect = getattr(connection, "dialect", None)
        offered = ("it only speaks " + dialect_name(dialect) + ", which cannot encrypt"
                   if dialect is not None and dialect < Dialects.SMB_3_0_0
                   else f"it agreed on {dialect_name(dialect)} but offered no encryption")
        return SmbEncryptionUnavailableError(
            f"The SMB server {server} could not negotiate SMB3 encryption: {offered}, so no data was sent.",
            hint=ENCRYPTION_HINT)
    if "authenticated as a guest" in text:
        return StorageError(f"The SMB server {server} logged '{storage.account}' on as a guest, which cannot "
                            "encrypt; the account was not recognised.",
                            hint="Check the user name, domain and password; ask the admin whether the "
                                 "account exists on the server.")
    if any(s in _AUTH_STATUSES for s in found) or any(isinstance(i, SMBAuthenticationError) for i in causes):
        return StorageError(f"The SMB server {server} rejected the user name or password for '{storage.account}'.",
                            hint="Check the user name, domain and password (passwords are case-sensitive); "
                                 "ask the server's admin whether the account is locked or expired.")
    if _BAD_NETWORK_NAME in found:
        return StorageError(f"The share '{storage.share}' does not exist on the SMB server {server}.",
                            hint="Check the share's name (only the name, such as backups; the folder "
                                 "inside it goes in the directory setting).")
    if _NETWORK_ACCESS_DENIED in found:
        return StorageError(f"'{storage.account}' is not allowed to use the share '{storage.share}' on {server}.",
                            hint=f"Ask the server's admin to grant '{storage.account}' access to the share.")
    if any(s in (_DISK_FULL, _QUOTA_EXCEEDED) for s in found) or any(
            isinstance(i, OSError) and i.errno in (errno.ENOSPC, errno.EDQUOT) for i in causes):
        return QuotaExceededError(
            f"The share '{storage.share}' on {server} is full (or the quota of '{storage.account}' there is used "
            f"up) while {where.action} {where.path}.",
            hint="Free space on the share or ask its admin for more; nothing partial was kept.")
    if any(s in _DENIED_STATUSES for s in found):
        return StorageError(f"Permission denied while {where.action} {where.path}.",
                            hint=f"Ask the share's admin to give '{storage.account}' permission to "
                                 f"{where.right} there.")
    if _SHARING_VIOLATION in found:
        return StorageError(f"{where.path} is in use by another program, so it could not be {where.right}.",
                            hint="Wait for the other program to finish, then try again.")
    if any(s in _MISSING_STATUSES for s in found):
        return NotFoundError(f"{where.path} does not exist.",
                             hint="Refresh the backup list; it may have been removed.")
    if is_lost(exc):
        return StorageError(f"The connection to the SMB server {server} was lost while {where.action} "
                            f"{where.path}.",
                            hint="Check that the server is running and the network is stable, then try "
                                 "again; nothing partial was kept.")
    detail = next((f"NTSTATUS 0x{s:08X}" for s in found), type(exc).__name__)
    return StorageError(f"The SMB server {server} failed while {where.action} {where.path} ({detail}).",
                        hint="Try again; if it keeps failing, show this message to the server's admin.")
