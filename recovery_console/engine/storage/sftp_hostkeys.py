"""SSH host keys for SFTP targets, trusted on first use: fetching, fingerprinting and pinning them.

No known_hosts file is ever read or written: the fingerprint the user confirmed is kept in the
target's settings, and a connection whose server presents another key is refused (PinnedHostKey).
"""

from __future__ import annotations

import base64
import hashlib
import socket
from dataclasses import dataclass

import paramiko

from recovery_console.errors import StorageError, UsageError
from recovery_console.models.target import SFTP_DEFAULT_PORT

CONNECT_TIMEOUT = 10.0
"""Seconds for TCP connect, SSH banner and key exchange."""


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
                 host_key: HostKeyInfo | None = None, cli_hint: str = "") -> None:
        super().__init__(message, hint, detail, cli_hint=cli_hint)
        self.host_key = host_key


class HostKeyChangedError(StorageError):
    """The server presented a host key other than the one the target trusts."""

    def __init__(self, message: str, hint: str = "", detail: str = "", *,
                 expected: str = "", actual: HostKeyInfo | None = None, cli_hint: str = "") -> None:
        super().__init__(message, hint, detail, cli_hint=cli_hint)
        self.expected = expected
        self.actual = actual



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


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the server; each way this fails becomes its own actionable error."""
    where = host_port(host, port)
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


def handshake_failed(host: str, port: int, exc: BaseException) -> StorageError:
    where = host_port(host, port)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return StorageError(f"{where} accepted the connection but did not complete an SSH handshake in time.",
                            hint="Check that this port is an SSH/SFTP server and that it is not overloaded.")
    return StorageError(f"{where} did not complete an SSH handshake ({exc or type(exc).__name__}).",
                        hint="Check that this host and port run an SSH/SFTP server.")


def fetch_host_key(host: str, port: int = SFTP_DEFAULT_PORT, timeout: float = CONNECT_TIMEOUT) -> HostKeyInfo:
    """Connect, read the server's host key from the key exchange, and hang up without authenticating."""
    sock = open_socket(host, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return host_key_info(transport.get_remote_server_key())
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise handshake_failed(host, port, exc) from None
    finally:
        transport.close()


def untrusted_error(host: str, port: int, found: HostKeyInfo, target: str | None = None) -> HostKeyUntrustedError:
    where = host_port(host, port)
    how = (f"add the target with `--accept-host-key {found.fingerprint_sha256}`" if target is None else
           f"recreate the target '{target}' with `--accept-host-key {found.fingerprint_sha256}`")
    ask = ("Ask the server's administrator to confirm that fingerprint (on the server: "
           "`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`); if it matches, ")
    return HostKeyUntrustedError(
        f"The SSH host key of {where} has not been confirmed: it presents {found.key_type} "
        f"{found.fingerprint_sha256}.",
        hint=ask + ("accept it as you add the target." if target is None else
                    f"remove the target '{target}' and add it again, accepting that fingerprint."),
        cli_hint=f"{ask}{how}.",
        host_key=found,
    )


def changed_error(host: str, port: int, expected: str, expected_type: str | None, found: HostKeyInfo,
                  target: str | None = None) -> HostKeyChangedError:
    where = host_port(host, port)
    trusted = f"{expected_type} {expected}" if expected_type else expected
    name = target or "NAME"
    return HostKeyChangedError(
        f"The SSH host key of {where} has CHANGED. Trusted: {trusted}. Presented now: {found.key_type} "
        f"{found.fingerprint_sha256}. Someone may be intercepting the connection, or the server was "
        "reinstalled; nothing was sent to it.",
        hint=("Confirm the new fingerprint with the server's administrator. If the change is legitimate, "
              f"re-trusting means removing the target '{name}' and adding it again, accepting the new fingerprint."),
        cli_hint=("Confirm the new fingerprint with the server's administrator. If the change is legitimate, "
                  f"re-trusting means recreating the target: `recovery-console target remove {name}`, then "
                  f"`recovery-console target add sftp {name} … --accept-host-key {found.fingerprint_sha256}`."),
        expected=expected, actual=found,
    )


def preferred_key_types(available: list[str], pinned_type: str | None) -> list[str]:
    """Ask the server for the pinned kind of host key first, so a server with several keys shows that one."""
    if not pinned_type:
        return available
    wanted = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if pinned_type == "ssh-rsa" else [pinned_type]
    first = [t for t in wanted if t in available]
    return first + [t for t in available if t not in first]


class PinnedHostKey(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]  # paramiko has no type stubs
    """Accepts exactly the pinned fingerprint; no known_hosts file is ever read or written."""

    def __init__(self, host: str, port: int, fingerprint: str | None, key_type: str | None, target: str) -> None:
        self.host, self.port, self.target = host, port, target
        self.fingerprint, self.key_type = fingerprint, key_type

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        found = host_key_info(key)
        if not self.fingerprint:
            raise untrusted_error(self.host, self.port, found, self.target)
        if found.fingerprint_sha256 != self.fingerprint:
            raise changed_error(self.host, self.port, self.fingerprint, self.key_type, found, self.target)
