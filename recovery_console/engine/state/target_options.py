"""A new target from what a user typed: one function per kind builds its settings and secrets, checked.

The CLI (`target add KIND`) and the GUI (setup wizard) gather the values; these functions decide
whether they make a usable target and say what to change when not (`UsageError`). Secrets are
returned apart from the settings: they go to the keyring, never to targets.json. A secret may be
given as a function that asks for it (a prompt, a file): it is called only once the rest is valid.

The storage libraries (boto3, paramiko, smbprotocol) are imported only by the kind that needs them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from recovery_console.engine.state.keyring_store import SecretValue, reveal
from recovery_console.engine.state.targets import open_storage
from recovery_console.engine.storage.round_trip import CheckReport, round_trip
from recovery_console.errors import SecretUnavailableError, UsageError
from recovery_console.models.target import SFTP_DEFAULT_PORT, SMB_DEFAULT_PORT, TargetConfig, check_bucket_name

if TYPE_CHECKING:
    from recovery_console.engine.storage.sftp_hostkeys import HostKeyInfo

S3_SECRET = "secret_access_key"  # the keyring entry of an S3 target's secret access key
ADDRESSING_STYLES = ("auto", "path", "virtual")


class NewTarget(NamedTuple):
    """A target ready to save with `Console.add_target(config, secrets)`."""

    config: TargetConfig
    secrets: dict[str, str]


def _quota(quota: int | None) -> int | None:
    if quota is not None and quota <= 0:
        raise UsageError(f"A quota of {quota} bytes leaves no room for a backup.",
                         hint="Give a positive size, or no quota at all.")
    return quota


def _port(port: int) -> int:
    if not 0 < port < 65536:
        raise UsageError(f"{port} is not a port number.", hint="Give a port from 1 to 65535.")
    return port


def _required(value: str, what: str, hint: str = "") -> str:
    text = value.strip()
    if not text:
        raise UsageError(f"No {what} was given.", hint=hint)
    return text


def _given(secret: SecretValue | None) -> SecretValue | None:
    """The secret if one was given (an empty field counts as none)."""
    return secret if secret is not None and secret != "" else None


def local_target(name: str, folder: str | Path, *, quota: int | None = None) -> NewTarget:
    """A folder on a local or mounted disk; it must exist."""
    path = Path(_required(str(folder), "folder for the local target", "Type or browse for a folder.")).expanduser()
    path = path.absolute()
    if not path.is_dir():
        raise UsageError(f"{path} is not an existing folder.", hint="Create it first, or check the path.")
    return NewTarget(TargetConfig(name=name, kind="local", options={"path": str(path)}, quota=_quota(quota)), {})


def s3_target(name: str, *, bucket: str, endpoint_url: str = "", region: str = "", prefix: str = "",
              access_key_id: str = "", secret_access_key: SecretValue | None = None, kms_key_id: str = "",
              addressing_style: str | None = None, use_tls: bool = True, verify_tls: bool = True,
              quota: int | None = None) -> NewTarget:
    """An AWS S3 or S3-compatible bucket. Without an access key id the default AWS credential chain is used
    (IAM role, instance profile, environment) and no secret is kept."""
    from recovery_console.engine.storage.s3 import (  # here, so that other kinds never load boto3
        normalize_endpoint,
        normalize_prefix,
    )

    options: dict[str, object] = {
        "endpoint_url": normalize_endpoint(endpoint_url, use_tls) or "",
        "region": region.strip(),
        "bucket": check_bucket_name(bucket),
        "prefix": normalize_prefix(prefix).rstrip("/"),
        "use_tls": use_tls,
        "verify_tls": verify_tls,
    }
    if kms_key_id.strip():
        options["kms_key_id"] = kms_key_id.strip()
    if addressing_style:
        if addressing_style not in ADDRESSING_STYLES:
            raise UsageError(f"'{addressing_style}' is not an addressing style.",
                             hint=f"Choose one of {', '.join(ADDRESSING_STYLES)}.")
        options["addressing_style"] = addressing_style
    secrets: dict[str, str] = {}
    key_id = access_key_id.strip()
    secret = _given(secret_access_key)
    if key_id:
        options["access_key_id"] = key_id
        if secret is None:
            raise SecretUnavailableError(f"No secret access key was given for access key id {key_id}.",
                                         hint="Give the secret access key, or leave the access key id empty to "
                                              "use the IAM role / instance profile / environment.")
        secrets[S3_SECRET] = reveal(secret)
    elif secret is not None:
        raise UsageError("A secret access key was given without an access key id.",
                         hint="Give the access key id too, or drop the secret to use the IAM role / "
                              "instance profile / environment.")
    return NewTarget(TargetConfig(name=name, kind="s3", options=options, quota=_quota(quota)), secrets)


def smb_target(name: str, *, host: str, share: str, username: str, password: SecretValue,
               domain: str | None = None, port: int = SMB_DEFAULT_PORT, directory: str = "",
               quota: int | None = None) -> NewTarget:
    """An SMB3 share; `username` may be written DOMAIN\\user."""
    from recovery_console.engine.storage.smb import split_account  # here, so that other kinds skip smbprotocol

    host = _required(host, "SMB server host")
    share = _required(share.strip().strip("\\/"), "SMB share name", "Give the share's name, such as backups.")
    account_domain, user = split_account(_required(username, "SMB user name"), (domain or "").strip() or None)
    if not user:
        raise UsageError(f"'{username}' has no user name after the domain.", hint="Write it as DOMAIN\\user.")
    options: dict[str, object] = {"host": host, "port": _port(port), "share": share, "username": user,
                                  "domain": account_domain, "directory": directory.strip().replace("\\", "/")}
    config = TargetConfig(name=name, kind="smb", options=options, quota=_quota(quota))
    secret = _given(password)
    if secret is None:
        raise SecretUnavailableError("No password was given for the SMB target.")
    return NewTarget(config, {"password": reveal(secret)})


def read_private_key(path: Path) -> str:
    """An OpenSSH private key file's text (checked with its passphrase by `sftp_target`)."""
    try:
        return path.expanduser().read_text("utf-8")
    except OSError as exc:
        raise SecretUnavailableError(f"The private key file {path} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise SecretUnavailableError(f"{path} is not a text private key file.") from None


def private_key_needs_passphrase(key_text: str) -> bool:
    from recovery_console.engine.storage import sftp_keys  # here, so that other kinds skip paramiko

    return sftp_keys.private_key_needs_passphrase(key_text)


def sftp_target(name: str, *, host: str, username: str, directory: str, port: int = SFTP_DEFAULT_PORT,
                password: SecretValue | None = None, private_key: str | None = None, passphrase: str | None = None,
                quota: int | None = None) -> NewTarget:
    """A directory on an SFTP server, logged in with a password or a private key (and its passphrase).

    The key is loaded here, so a wrong passphrase is reported before anything connects. The server's
    host key is pinned with `pin_host_key` once the user has confirmed it.
    """
    from recovery_console.engine.storage import sftp_keys  # here, so that other kinds skip paramiko

    options: dict[str, object] = {
        "host": _required(host, "SFTP server host"), "port": _port(port),
        "username": _required(username, "SFTP user name"), "auth": "key" if private_key else "password",
        "directory": _required(directory, "SFTP directory",
                               "Give the working directory on the server (absolute, or relative to the login's home)."),
    }
    config = TargetConfig(name=name, kind="sftp", options=options, quota=_quota(quota))
    secret = _given(password)
    if private_key:
        if secret is not None:
            raise UsageError("Both a password and a private key were given.", hint="Choose one way to log in.")
        sftp_keys.load_private_key(private_key, passphrase or None)
        secrets = {"private_key": private_key}
        if passphrase:
            secrets["passphrase"] = passphrase
        return NewTarget(config, secrets)
    if passphrase:
        raise UsageError("A passphrase belongs to a private key; give the private key too.")
    if secret is None:
        raise UsageError("No way to log in was given.", hint="Give a password or a private key.")
    return NewTarget(config, {"password": reveal(secret)})


def pin_host_key(new: NewTarget, found: HostKeyInfo) -> NewTarget:
    """The SFTP target trusting exactly this host key (the one the user confirmed), and no other."""
    options = {**new.config.options, "host_key_fingerprint": found.fingerprint_sha256, "host_key_type": found.key_type}
    return NewTarget(replace(new.config, options=options), new.secrets)


def check_new_target(new: NewTarget) -> CheckReport:
    """The 'Test connection' round trip (list, write, read back, delete) of a target not saved yet."""
    with open_storage(new.config, new.secrets.get) as storage:
        return round_trip(storage)

