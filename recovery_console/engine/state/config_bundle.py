"""A console's configuration as one portable document: readable JSON, or sealed in the backup container.

The document (schema 1) holds targets and profiles (each profile with its policy) as targets.json
and profiles.json hold them, and, only when sealed, the keyring secrets of each. Sealing reuses
the backup format (docs/FORMAT.md): the passphrase is the container's secret, the JSON its payload,
so a wrong passphrase is refused by the key commitment and any altered byte by the chunk tags.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from recovery_console import __version__
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.errors import (
    IntegrityError,
    RecoveryError,
    UnsupportedError,
    UsageError,
    WrongKeyError,
    from_os_error,
)
from recovery_console.models.backup import BackupMetadata
from recovery_console.models.profile import Profile
from recovery_console.models.target import TARGET_KINDS, TargetConfig

DOCUMENT_FORMAT = "recovery-console-config"
SCHEMA_VERSION = 1
CONTENT_MARK = "content"
MAX_DOCUMENT = 16 << 20  # far above any real configuration; a stray large file is refused, not parsed whole

Secrets = dict[str, dict[str, str]]  # keyring scope ('target:x', 'profile:y') -> secret name -> value


@dataclass(frozen=True)
class ConfigDocument:
    """What an export carries; `secrets` is empty unless it was sealed with a passphrase."""

    targets: list[TargetConfig]
    profiles: list[Profile]
    secrets: Secrets = field(default_factory=dict)
    exported_at: str = ""
    exported_by: str = ""
    sealed: bool = False

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "format": DOCUMENT_FORMAT, "schema_version": SCHEMA_VERSION, "app_version": __version__,
            "exported_at": self.exported_at, "exported_by": self.exported_by,
            "targets": [t.to_dict() for t in self.targets], "profiles": [p.to_dict() for p in self.profiles],
        }
        if self.sealed:
            data["secrets"] = self.secrets
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _refused(what: str) -> IntegrityError:
    return IntegrityError(f"This is not a usable configuration export: {what}; nothing was imported.",
                          hint="Pick a file written by exporting the configuration of a Recovery Console.")


def _secrets(raw: object) -> Secrets:
    if not isinstance(raw, dict) or not all(
            isinstance(scope, str) and isinstance(entries, dict)
            and all(isinstance(k, str) and isinstance(v, str) and v for k, v in entries.items())
            for scope, entries in raw.items()):
        raise _refused("its secrets are not a map of keyring names to texts")
    return raw


def parse_document(raw: bytes, *, sealed: bool) -> ConfigDocument:
    """The document from its JSON bytes, every record checked as the settings files check it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refused(f"it is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != DOCUMENT_FORMAT:
        raise _refused(f"it does not say \"format\": \"{DOCUMENT_FORMAT}\"")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UnsupportedError(f"This configuration export has schema version {version}; this release reads "
                               f"version {SCHEMA_VERSION}.", hint="Import it with the release that wrote it, "
                                                                   "or a newer one.")
    records: dict[str, list[Any]] = {}
    for key, from_dict in (("targets", TargetConfig.from_dict), ("profiles", Profile.from_dict)):
        items = data.get(key, [])
        if not isinstance(items, list):
            raise _refused(f"\"{key}\" is not a list")
        parsed = []
        for index, item in enumerate(items, 1):
            try:
                if not isinstance(item, dict):
                    raise ValueError("not an object")
                record = from_dict(item)
                if isinstance(record, TargetConfig) and record.kind not in TARGET_KINDS:
                    raise ValueError(f"the kind '{record.kind}' is not one this release knows")
                parsed.append(record)
            except (ValueError, TypeError, RecoveryError) as exc:
                raise _refused(f"{key[:-1]} #{index}: {exc}") from None
        if len({r.name for r in parsed}) != len(parsed):
            raise _refused(f"a {key[:-1]} name appears twice")
        records[key] = parsed
    if data.get("secrets") and not sealed:
        raise _refused("it carries secrets in the clear")
    return ConfigDocument(targets=records["targets"], profiles=records["profiles"],
                          secrets=_secrets(data.get("secrets", {})), sealed=sealed,
                          exported_at=str(data.get("exported_at", "")), exported_by=str(data.get("exported_by", "")))


def write_document(document: ConfigDocument, path: Path, passphrase: str | None, *, overwrite: bool = False,
                   iterations: int = fmt.DEFAULT_ITERATIONS) -> int:
    """Write the export (0600, through a temporary name): plain JSON without any secret, or sealed with them
    when a passphrase is given."""
    if passphrase is None:
        document = replace(document, secrets={}, sealed=False)
    payload = document.to_json()
    try:
        with atomic_output(path, overwrite) as handle:
            if passphrase is None:
                handle.write(payload)
                return len(payload)
            metadata = BackupMetadata(backup_id=str(uuid.uuid4()), created_at=document.exported_at,
                                      app_version=__version__, description="Recovery Console configuration",
                                      source="file", source_name=path.name, created_by=document.exported_by,
                                      compression="zstd", extra={CONTENT_MARK: DOCUMENT_FORMAT})
            return encrypt_stream(io.BytesIO(payload), handle, passphrase, metadata, source_size=len(payload),
                                  iterations=iterations).encrypted_size
    except OSError as exc:
        raise from_os_error("writing", str(path), exc) from exc


def is_sealed(path: Path) -> bool:
    """Whether the file starts like the container (then it needs the passphrase)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(fmt.MAGIC)) == fmt.MAGIC
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.") from None
    except OSError as exc:
        raise from_os_error("reading", str(path), exc) from exc


def read_document(path: Path, passphrase: str | None) -> ConfigDocument:
    """Read an export whole and check it: a sealed one is proven chunk by chunk before any byte is parsed."""
    sealed = is_sealed(path)
    try:
        if path.stat().st_size > MAX_DOCUMENT:
            raise _refused(f"it is larger than {MAX_DOCUMENT >> 20} MiB")
        if not sealed:
            return parse_document(path.read_bytes(), sealed=False)
    except OSError as exc:
        raise from_os_error("reading", str(path), exc) from exc
    if passphrase is None:
        raise UsageError(f"{path} is encrypted: it needs the passphrase it was exported with.")
    return parse_document(_unseal(path, passphrase), sealed=True)


def _unseal(path: Path, passphrase: str) -> bytes:
    """The sealed document's bytes, only once every chunk and the end record have proven them."""
    sink = io.BytesIO()
    try:
        with open(path, "rb") as stream:
            report = read_stream(stream, passphrase, sink=sink, require_archive=False)
    except WrongKeyError:
        raise WrongKeyError("The passphrase does not open this configuration export; nothing was imported.",
                            hint="Type the passphrase it was exported with.") from None
    except IntegrityError as exc:
        raise IntegrityError(f"The configuration export is damaged or was altered: {exc.message} "
                             "Nothing was imported.", hint="Export the configuration again from the console "
                                                           "it came from.") from None
    except OSError as exc:
        raise from_os_error("reading", str(path), exc) from exc
    if report.metadata.extra.get(CONTENT_MARK) != DOCUMENT_FORMAT:
        raise _refused("it is a backup, not a configuration export")
    return sink.getvalue()


@dataclass(frozen=True)
class Strength:
    """An honest estimate from length and kinds of characters only: words from a dictionary count less."""

    level: str  # weak, fair or strong
    bits: int
    advice: str


STRONG_BITS = 80
FAIR_BITS = 60
MIN_LENGTH = 12


def passphrase_strength(passphrase: str) -> Strength:
    """Weak below 12 characters or about 60 bits (length × log2 of the character kinds used), strong from 80."""
    pool = sum(size for test, size in ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
               if any(test(c) for c in passphrase if c.isascii()))
    if any(c.isascii() and not c.isalnum() for c in passphrase):
        pool += 33
    if any(not c.isascii() for c in passphrase):
        pool += 64
    bits = int(len(passphrase) * math.log2(pool)) if pool else 0
    if len(passphrase) < MIN_LENGTH or bits < FAIR_BITS:
        return Strength("weak", bits, f"Use at least {MIN_LENGTH} characters; longer, or several unrelated words, "
                                      "is stronger.")
    if bits < STRONG_BITS:
        return Strength("fair", bits, "Longer is stronger: add a few more characters or words.")
    return Strength("strong", bits, "")
