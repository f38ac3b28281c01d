"""SSH private keys for SFTP targets: Ed25519, ECDSA or RSA from OpenSSH or PEM text, maybe passphrase-protected."""

from __future__ import annotations

import io
from typing import Any

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from recovery_console.errors import StorageError


class PrivateKeyError(StorageError):
    """The stored private key cannot be used: not a key, unsupported type, or wrong/missing passphrase."""

    def __init__(self, message: str, hint: str = "", detail: str = "", *, needs_passphrase: bool = False,
                 wrong_passphrase: bool = False, cli_hint: str = "") -> None:
        super().__init__(message, hint, detail, cli_hint=cli_hint)
        self.needs_passphrase = needs_passphrase
        self.wrong_passphrase = wrong_passphrase



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
    except (ValueError, UnsupportedAlgorithm):
        raise PrivateKeyError("The private key is not an OpenSSH or PEM private key.",
                              hint="Use the private key file (e.g. ~/.ssh/id_ed25519), not the .pub file.") from None
    return False


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """An Ed25519, ECDSA or RSA private key from its OpenSSH/PEM text, decrypted with `passphrase` if needed."""
    data = text.strip().encode() + b"\n"
    encrypted = private_key_needs_passphrase(text)
    if encrypted and not passphrase:
        raise PrivateKeyError("The private key is protected by a passphrase, and no passphrase was given.",
                              hint="Give the key's passphrase in the target's settings.",
                              cli_hint="Give the key's passphrase (--passphrase-file or --passphrase-env), "
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
