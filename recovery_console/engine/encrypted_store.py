"""A new backup written to a target: a source stream encrypted straight into an object that appears only whole."""

from __future__ import annotations

from collections.abc import Callable

from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.writer import EncryptResult, encrypt_stream
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.output_checks import check_quota_after, stored_size_estimate, write_sidecar
from recovery_console.engine.progress import Reporter
from recovery_console.engine.storage.base import Storage
from recovery_console.models.backup import BackupMetadata


def store_encrypted(storage: Storage, key: str, source: ReadableStream, secret: str, metadata: BackupMetadata, *,
                    reporter: Reporter | None = None, source_size: int | None = None,
                    iterations: int = fmt.DEFAULT_ITERATIONS, salt: bytes | None = None,
                    before_commit: Callable[[EncryptResult], None] | None = None) -> EncryptResult:
    """Encrypt `source` to `key` on `storage` with its sidecar; the object appears only once the whole source
    went in and `before_commit` (the caller's check of what it read) passed."""
    storage.check_room(stored_size_estimate(source_size, metadata.compression))
    with storage.put(key) as upload:
        result = encrypt_stream(source, upload, secret, metadata, reporter=reporter,
                                source_size=source_size, iterations=iterations, salt=salt)
        if before_commit is not None:
            before_commit(result)
        check_quota_after(storage, result.encrypted_size)
    write_sidecar(storage, key, result.encrypted_sha256)
    return result
