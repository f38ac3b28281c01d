"""The engine's front door: every backup operation the CLI and the GUI offer, audited.

Each method does one user-visible job end to end (find the backup, stream it, update the
catalog, write the audit entry) so neither front end carries engine logic.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from recovery_console import __version__
from recovery_console.engine.archive import pgarchive
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.naming import backup_key, check_name_matches
from recovery_console.engine.container.streams import SIDECAR_SUFFIX, HashingReader, sidecar_text
from recovery_console.engine.container.verify import StreamReport, read_header, read_metadata, read_stream, read_toc
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.engine.output_checks import (
    COPY_BLOCK,
    check_output,
    copy_checked,
    is_folder,
    upload_checked,
    write_sidecar,
)
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.results import FileResult, VerifyResult, verify_result
from recovery_console.engine.state.atomic import atomic_output, claim_state_writes
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.backup_ids import ambiguous, matching_records, split_target_key
from recovery_console.engine.state.catalog import Catalog, SyncResult
from recovery_console.engine.state.keyring_store import SecretStore
from recovery_console.engine.state.named_store import usable_text
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.pins import PinStore
from recovery_console.engine.state.profiles import Profiles
from recovery_console.engine.state.runtime_dir import RuntimeDir, sweep_legacy_passfiles
from recovery_console.engine.state.target_health import TargetHealth
from recovery_console.engine.state.targets import SECRET_NAMES, TargetStore, open_storage, target_scope
from recovery_console.engine.storage.base import Storage
from recovery_console.engine.storage.pool import StoragePool
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import (
    Cancelled,
    CatalogError,
    IntegrityError,
    NotFoundError,
    RecoveryError,
    StorageError,
    UsageError,
    from_os_error,
)
from recovery_console.models.backup import BackupMetadata, BackupRecord
from recovery_console.models.target import TargetConfig

if TYPE_CHECKING:  # loaded where used: a CLI command that needs none of them starts ~0.08 CPU-s sooner
    from recovery_console.engine.folder_backup import FolderListing
    from recovery_console.engine.import_file import FoundFile
    from recovery_console.engine.state.config_transfer import ConfigTransfer
    from recovery_console.engine.storage.round_trip import CheckReport
    from recovery_console.engine.vault.vault_extract import Extracted

log = logging.getLogger(__name__)


class Console:
    """One user's console: their targets, catalog and audit log, and the storages it has open.

    Close it when done (`close()` or a `with` block): that ends the connections to the targets.
    """

    def __init__(self, paths: AppPaths | None = None) -> None:
        self.paths = (paths or AppPaths.default()).ensure()
        self.targets = TargetStore(self.paths)
        self._catalog: Catalog | None = None
        self.audit = AuditLog.at(self.paths)
        self.secrets = SecretStore()
        self.profiles = Profiles(self.paths, self.secrets, self.audited)
        self.health = TargetHealth(self.paths.data_dir)
        self.pins = PinStore(self.paths)
        self._storages = StoragePool(lambda config: self._open(config))  # _open looked up per call
        self.runtime = RuntimeDir(self.paths.runtime_dir)
        self.runtime.sweep()  # temporary plaintext a killed console left behind
        claim_state_writes([self.paths.config_dir, self.paths.data_dir], self.runtime)
        sweep_legacy_passfiles(Path(tempfile.gettempdir()))

    @property
    def catalog(self) -> Catalog:
        """The catalog, opened on first use: offline work (a file's decrypt or contents) never touches it."""
        if self._catalog is None:
            self._catalog = Catalog(self.paths.catalog_file)
        return self._catalog

    def rebuild_catalog(self) -> list[SyncResult]:
        """Replace the catalog with a fresh one listed from every target (it is only a cache of what they hold)."""
        with self.audited("catalog.rebuild", str(self.paths.catalog_file)) as detail:
            self._catalog = None
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = self.paths.catalog_file.with_name(self.paths.catalog_file.name + suffix)
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise from_os_error("removing the damaged catalog", str(path), exc) from exc
            _, results = self.list_backups()
            detail.update(targets=len(results), unreachable=[r.target for r in results if r.error])
            return results

    def close(self) -> None:
        """End every storage connection this console opened; it reconnects if used again."""
        self._storages.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def audited(self, action: str, obj: str, detail: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Write one audit entry for the block: ok, failed (with the reason) or cancelled.

        A block that reports its outcome without raising (a target test) sets ``detail["ok"] = False``
        when it failed, and the entry says "failed".

        A damaged log is found before the block runs (nothing is done then). If the entry still
        cannot be written after the work, the work's own outcome stands and the log trouble is a warning.
        """
        extra: dict[str, Any] = dict(detail or {})
        try:
            self.audit.check_appendable()
        except RecoveryError as exc:
            exc.message = f"Nothing was done ({action}): it could not be recorded. {exc.message}"
            raise
        try:
            yield extra
        except Cancelled:
            self._record(action, obj, "cancelled", extra)
            raise
        except RecoveryError as exc:
            self._record(action, obj, "failed", {**extra, "error": exc.message})
            raise
        self._record(action, obj, "failed" if extra.get("ok") is False else "ok", extra)

    def _record(self, action: str, obj: str, result: str, detail: dict[str, Any]) -> None:
        """Append an audit entry; a failure to write it is reported, never mistaken for the action's failure."""
        try:
            self.audit.append(action, obj, result, detail)
        except RecoveryError as exc:
            log.warning("%s %s: %s, but it could not be recorded in the audit log: %s %s",
                        action, obj, result, exc.message, exc.hint)

    @contextmanager
    def _watched(self, target: str, what: str) -> Iterator[None]:
        """Keep the target's last-seen-working record: ok when the block succeeds, failed on a storage error."""
        try:
            yield
        except StorageError as exc:
            self.health.record(target, False, f"{what} failed: {exc.message}")
            raise
        self.health.record(target, True, f"{what} ok")

    def test_target(self, name: str) -> CheckReport:
        """The real round trip of 'Test connection', remembered as the target's last check."""
        storage = self.storage(name)
        with self.audited("target.test", storage.name) as detail:
            from recovery_console.engine.storage.round_trip import round_trip

            report = round_trip(storage)
            steps = ", ".join(f"{s.step} {'ok' if s.ok else 'FAILED'}" for s in report.steps)
            self.health.record(storage.name, report.ok, steps)
            detail.update(ok=report.ok, steps=steps)
            return report

    def config_transfer(self) -> ConfigTransfer:
        """Export this console's targets and profiles, or import another's (engine/state/config_transfer.py)."""
        from recovery_console.engine.state.config_transfer import ConfigTransfer

        return ConfigTransfer(self.targets, self.profiles, self.secrets, self.audited, self._storages.drop)

    def _open(self, config: TargetConfig) -> Storage:
        return open_storage(config, self.secrets.lookup(target_scope(config.name)))

    def storage(self, spec: str) -> Storage:
        """The target's storage, connected on first use and reused until the console closes."""
        return self._storages.get(self.targets.resolve(spec))

    def add_target(self, config: TargetConfig, secrets: dict[str, str] | None = None) -> None:
        """Save a target's settings, and its secrets in the keyring (never in targets.json)."""
        with self.audited("target.add", config.name, {"kind": config.kind}):
            self.targets.check_new(config.name)
            for name, value in (secrets or {}).items():
                self.secrets.put(target_scope(config.name), name, value)
            self.targets.add(config)
            self._storages.drop(config.name)

    def update_target(self, config: TargetConfig, secrets: dict[str, str] | None = None) -> None:
        """Change a saved target's settings (same name and kind); `secrets` are all of its secrets now, so a
        login given up (an SFTP password replaced by a key) leaves the keyring too. None keeps them as they are."""
        with self.audited("target.update", config.name, {"kind": config.kind}):
            old = self.targets.get(config.name)
            if old.kind != config.kind:
                raise UsageError(f"Target '{config.name}' is {old.kind}; its kind cannot change.",
                                 hint="Remove it and add a new target of the other kind.")
            if secrets is not None:
                for secret_name in SECRET_NAMES.get(config.kind, ()):
                    if secret_name in secrets:
                        self.secrets.put(target_scope(config.name), secret_name, secrets[secret_name])
                    else:
                        self.secrets.delete(target_scope(config.name), secret_name)
            self.targets.replace(config)
            self._storages.drop(config.name)

    def remove_target(self, name: str) -> TargetConfig:
        """Forget a target and its keyring secrets; its backups stay where they are."""
        with self.audited("target.remove", name):
            config = self.targets.remove(name)
            self._storages.drop(name)
            for secret_name in SECRET_NAMES.get(config.kind, ()):
                self.secrets.delete(target_scope(name), secret_name)
            return config

    def locate(self, ref: str, target: str | None = None) -> BackupRef:
        """A file path if one exists by that name, else TARGET:KEY, else a backup id in the catalog
        (engine/state/backup_ids.py)."""
        path = Path(ref).expanduser()
        if path.is_file():
            return BackupRef(location=str(path.absolute()), path=path)
        addressed = split_target_key(ref, set(self.targets.load()))
        if addressed is not None:
            return self._locate_key(*addressed)
        target_name = self.targets.resolve(target).name if target else None
        found: dict[str, BackupRef] = {}
        for record in matching_records(self.catalog.records([target_name] if target_name else None), ref):
            storage = self._storages.get(self.targets.resolve(record.target))
            found.setdefault(storage.location(record.key), BackupRef(storage.location(record.key), record, storage))
        if len(found) > 1:
            raise ambiguous(ref, [r.record for r in found.values() if r.record])
        return next(iter(found.values()))

    def _locate_key(self, target: str, keys: list[str]) -> BackupRef:
        """The backup at one of `keys` on `target`; the target is listed again if the catalog lacks it."""
        storage = self._storages.get(self.targets.resolve(target))
        for attempt in range(2):
            for key in keys:
                with suppress(NotFoundError):
                    record = self.catalog.get(target, key)
                    return BackupRef(storage.location(record.key), record, storage)
            if attempt == 0:
                self.catalog.sync(storage)
        raise NotFoundError(f"Target '{target}' holds no backup {keys[0]}.",
                            hint=f"Refresh the backup list of target '{target}' to see its backups and their keys.",
                            cli_hint=f"`backup list --target {target}` shows its backups and their keys.")

    def sync(self, target: str) -> SyncResult:
        return self.catalog.sync(self.storage(target))

    def list_backups(self, targets: list[str] | None = None,
                     sync: bool = True) -> tuple[list[BackupRecord], list[SyncResult]]:
        """Backups on the named targets (default: every configured one), synced from storage first.

        A target that cannot be listed does not hide the others: its SyncResult carries the reason
        (`error`) and its backups are left out, since what it holds now is unknown.
        """
        names = targets if targets is not None else list(self.targets.load())
        configs = [self.targets.resolve(name) for name in names]
        results = [self._sync_one(config) for config in configs] if sync else []
        unreachable = {result.target for result in results if result.error}
        reachable = [config.name for config in configs if config.name not in unreachable]
        return self.catalog.records(reachable), results

    def _sync_one(self, config: TargetConfig) -> SyncResult:
        """Sync one target; a target that cannot be reached gives a SyncResult naming why instead of an error."""
        try:
            result = self.catalog.sync(self._storages.get(config))
            self.health.record(config.name, True, "listing ok")
            return result
        except (CatalogError, Cancelled):
            raise
        except RecoveryError as exc:
            reason = exc.message + (f" {exc.hint}" if exc.hint else "")
            self.health.record(config.name, False, f"listing failed: {exc.message}")
            return SyncResult(config.name, 0, 0, 0, 0, error=reason)

    def create_backup(
        self,
        source: ReadableStream,
        target: str,
        secret: str,
        *,
        description: str = "",
        mode: str = "manual",
        compression: str = "zstd",
        source_name: str | None = None,
        source_size: int | None = None,
        database: str | None = None,
        database_size: int | None = None,
        server_version: str | None = None,
        pg_dump_version: str | None = None,
        reporter: Reporter | None = None,
        iterations: int = fmt.DEFAULT_ITERATIONS,
        salt: bytes | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> BackupRecord:
        """Encrypt a pg_dump archive stream onto a target; only a complete, valid backup is kept.
        `now` is a policy run's clock (injected in tests): the backup's name and created_at read it. `salt` is
        a fresh one whose key derivation the caller started ahead (format.derive_ahead); random if None."""
        if mode not in ("manual", "scheduled"):
            raise UsageError(f"Unknown backup mode '{mode}'; choose manual or scheduled.")
        usable_text(description, "The description")
        storage = self.storage(target)
        catalog = self.catalog  # a catalog that cannot be opened fails here, before anything is stored
        metadata = BackupMetadata(
            backup_id=str(uuid.uuid4()), created_at=utc_now(now() if now else None), app_version=__version__, mode=mode,
            description=description, database=database, database_size=database_size, server_version=server_version,
            pg_dump_version=pg_dump_version, compression=compression, source="pg_dump" if database else "file",
            source_name=source_name, created_by=user_at_host(),
        )
        key = backup_key(metadata)
        with self.audited("backup.create", key, {"target": storage.name}) as detail, \
                self._watched(storage.name, "backup upload"):
            from recovery_console.engine.archive.archive_probe import ArchiveProbe  # a live backup never needs it

            probe = ArchiveProbe(source)
            try:
                from recovery_console.engine.encrypted_store import store_encrypted

                result = store_encrypted(storage, key, probe, secret, metadata, reporter=reporter,
                                         source_size=source_size, iterations=iterations, salt=salt,
                                         before_commit=lambda _: probe.require_archive())
            finally:
                probe.close()
            detail.update(backup_id=metadata.backup_id, size=result.encrypted_size, sha256=result.encrypted_sha256)
            return catalog.add(storage, key, result.metadata, result.encrypted_sha256)

    def verify(self, ref: BackupRef, secret: str, *, quick: bool = False,
               reporter: Reporter | None = None) -> VerifyResult:
        """Full: every chunk, the archive's sealed hash and TOC, and the file against its sidecar.

        Quick checks only what the chunks' tags already prove (key, order, nothing missing or
        appended, the end record), skipping the archive and file hashes; record the verdict.
        """
        mode = "quick" if quick else "full"
        with self.audited("backup.verify", ref.location, {"mode": mode}) as detail:
            try:
                with ref.open() as stream:
                    report = read_stream(stream, secret, full=not quick, hash_ciphertext=not quick,
                                         reporter=reporter, total=ref.size)
                sidecar = ref.sidecar_sha256()
                if not quick and sidecar is not None and sidecar != report.ciphertext_sha256:
                    raise IntegrityError(
                        "Every chunk decrypts, but the file's SHA-256 does not match its .sha256 sidecar.",
                        hint="The sidecar was damaged or replaced; re-create it from this verified file.",
                    )
                check_name_matches(ref.location, report.metadata)
            except IntegrityError as exc:
                self.record_failed_verify(ref, exc)
                raise
            except (StorageError, NotFoundError) as exc:
                self.record_unreachable_verify(ref, exc)
                raise
            if ref.record is not None:
                self.catalog.remember_metadata(ref.record, report.metadata)
                self.catalog.remember_verify(ref.record, "ok", mode)
            detail.update(backup_id=report.metadata.backup_id)
            return verify_result(ref, report, sidecar, mode)

    def record_failed_verify(self, ref: BackupRef, exc: IntegrityError) -> None:
        """Store `failed` as the backup's verdict: only for what reading the whole file proved.

        A wrong secret, an unreachable target or a cancel say nothing about the backup, so they leave
        the stored verdict as it was.
        """
        if ref.record is not None:
            self.catalog.remember_verify(ref.record, "failed", exc.message)

    def record_unreachable_verify(self, ref: BackupRef, exc: RecoveryError) -> None:
        """Keep a verify that could not read the file in the backup's history: its target, not the backup, failed."""
        if ref.record is not None:
            self.catalog.remember_unreachable(ref.record, f"target unreachable: {exc.message}")

    def full_verify_on_record(self, ref: BackupRef) -> str | None:
        """When the catalog saw this exact object pass a full verify (None for a plain file, or if it changed since)."""
        if ref.record is None or ref.storage is None:
            return None
        return self.catalog.full_verify_of(ref.storage.name, ref.storage.stat(ref.record.key))

    def verify_without_key(self, ref: BackupRef, reporter: Reporter | None = None) -> VerifyResult:
        """For auditors without the secret: the file's SHA-256 against its sidecar, and a sane header."""
        reporter = reporter or Reporter()
        with self.audited("backup.verify", ref.location, {"mode": "keyless"}):
            sidecar = ref.sidecar_sha256()
            if sidecar is None:
                raise NotFoundError(f"{ref.location} has no .sha256 sidecar to check against.",
                                    hint="Verify with the instance secret instead.")
            reporter.start(Phase.VERIFY, ref.size)
            with ref.open() as stream:
                reader = HashingReader(stream)
                read_header(reader)
                buf = bytearray(COPY_BLOCK)
                while n := reader.readinto(memoryview(buf)):
                    reporter.advance(n)
            if reader.sha256 != sidecar:
                raise IntegrityError(
                    f"The file's SHA-256 ({reader.sha256}) does not match its sidecar ({sidecar}).",
                    hint="The file or its sidecar was altered or damaged; fetch another copy.",
                )
            return VerifyResult(mode="keyless", location=ref.location, encrypted_size=reader.size,
                                ciphertext_sha256=reader.sha256, sidecar_sha256=sidecar)

    def inspect(self, ref: BackupRef, secret: str) -> BackupMetadata:
        """Metadata only: one key derivation, no payload read."""
        with self.audited("backup.inspect", ref.location):
            with ref.open() as stream:
                _, metadata = read_metadata(stream, secret)
            if ref.record is not None:
                self.catalog.remember_metadata(ref.record, metadata)
            return metadata

    def decrypt(self, ref: BackupRef, out: Path, secret: str, *, overwrite: bool = False,
                reporter: Reporter | None = None) -> FileResult:
        """Decrypt to a plain pg_dump archive; the output appears only once every check has passed."""
        with self.audited("decrypt", ref.location, {"output": str(out)}) as detail:
            check_output(out, [ref.local_file()])
            try:
                with atomic_output(out, overwrite, claims=self.runtime, large=True) as sink, ref.open() as stream:
                    report = read_stream(stream, secret, sink=sink, reporter=reporter, total=ref.size)
            except OSError as exc:  # the final flush or fsync on a full disk
                raise from_os_error("writing", str(out), exc) from exc
            assert report.archive_sha256 is not None and report.archive_length is not None
            detail.update(backup_id=report.metadata.backup_id, sha256=report.archive_sha256)
            return FileResult(out, report.archive_length, report.archive_sha256, report.metadata)

    def extract_folder(self, ref: BackupRef, folder: Path, secret: str, *,
                       reporter: Reporter | None = None) -> Extracted:
        """A folder backup extracted into a new folder (engine/folder_backup.py); what was written and refused."""
        with self.audited("decrypt.extract", ref.location, {"output": str(folder)}) as detail:
            usable_text(str(folder), "The folder's path")
            from recovery_console.engine.folder_backup import extract_folder_backup

            done = extract_folder_backup(ref, folder, secret, reporter, claims=self.runtime)
            detail.update(files=done.files, directories=done.directories, links=done.links, refused=done.refused)
            return done

    def folder_contents(self, ref: BackupRef, secret: str, *, reporter: Reporter | None = None) -> FolderListing:
        """A folder backup's tar members, read through the whole backup (its end record checked)."""
        from recovery_console.engine.folder_backup import list_folder_backup

        return list_folder_backup(ref, secret, reporter)

    def contents(self, ref: BackupRef, secret: Callable[[], str]) -> tuple[BackupMetadata | None, pgarchive.Archive]:
        """The archive's TOC, from a plain .dump or straight from a backup; the secret is asked only for the latter."""
        with ref.open() as stream:
            head = stream.read(len(fmt.MAGIC))
        if head.startswith(b"PGDMP"):
            with ref.open() as stream:
                return None, pgarchive.read_archive(stream)
        if head != fmt.MAGIC:
            raise IntegrityError(f"{ref.location} is neither a pg_dump custom-format archive nor a backup.")
        key = secret()
        with ref.open() as stream:
            return read_toc(stream, key)

    def download(self, ref: BackupRef, out: Path, *, overwrite: bool = False,
                 reporter: Reporter | None = None) -> FileResult:
        """Copy a backup and its sidecar to this machine, checking the copy against the sidecar."""
        if ref.record is None:
            raise UsageError(f"{ref.location} is already a local file.")
        if is_folder(out):
            out = out / ref.record.file_name
        reporter = reporter or Reporter()
        with self.audited("backup.download", ref.location, {"output": str(out)}) as detail, \
                self._watched(ref.record.target, "download"):
            side_out = out.with_name(out.name + SIDECAR_SUFFIX)
            source = ref.local_file()
            for path in (out, side_out):
                check_output(path, [source, source.with_name(source.name + SIDECAR_SUFFIX) if source else None])
            if ref.size == 0:
                raise IntegrityError(f"{ref.location} is empty (0 bytes): it is not a backup; nothing was downloaded.",
                                     hint="Delete it from the target; a real backup is never empty.")
            sidecar = ref.sidecar_sha256()
            expected, against = (sidecar, "sidecar") if sidecar else (ref.record.sha256, "catalog")
            reporter.start(Phase.DOWNLOAD, ref.size)
            try:
                reader = copy_checked(ref.open, ref.location, out, overwrite, (expected, against), reporter,
                                      claims=self.runtime)
                with atomic_output(side_out, overwrite) as side:
                    side.write(sidecar_text(reader.sha256, out.name))
            except OSError as exc:  # a full disk while writing, flushing or syncing the copy
                raise from_os_error("writing", str(out), exc) from exc
            checked = against if expected is not None else None
            detail.update(sha256=reader.sha256, checked_against=checked or "nothing")
            return FileResult(out, reader.size, reader.sha256, checked_against=checked)

    def upload(self, path: Path, target: str | None, secret: str | None = None, *, profile: str | None = None,
               reporter: Reporter | None = None) -> BackupRecord:
        """Import a file into a target: a backup file only after it fully verifies with this secret; a plain
        pg_dump -Fc archive or a vault's tar encrypted on the way (engine/import_store.py), verified there.

        `profile` gives the secret (from the keyring) when `secret` is None, and the target when `target` is."""
        reporter = reporter or Reporter()
        ref = BackupRef(location=str(path.absolute()), path=path)
        if profile is not None:
            target = target or self.profiles.store.get(profile).target
            secret = secret if secret is not None else self.profiles.instance_secret(profile)
        if not target or secret is None:
            raise UsageError("Upload needs a target and an instance secret (or a profile that gives both).")
        storage = self.storage(target)
        with self.audited("backup.upload", ref.location, {"target": storage.name}) as detail:
            from recovery_console.engine.import_file import BACKUP, identify

            found = identify(path)
            if found.kind != BACKUP:
                detail.update(imported=found.kind)
                return self._import(found, storage, secret, reporter, detail)
            with ref.open() as stream:
                report = read_stream(stream, secret, reporter=reporter, total=ref.size)
            sidecar = ref.sidecar_sha256()
            if sidecar is not None and sidecar != report.ciphertext_sha256:
                raise IntegrityError("The file verifies, but its .sha256 sidecar does not match it.",
                                     hint="Re-create the sidecar or fetch a clean copy; nothing was uploaded.")
            key = backup_key(report.metadata)
            with self._watched(storage.name, "upload"):
                return self._store_verified(path, storage, key, report, reporter, detail)

    def _import(self, found: FoundFile, storage: Storage, secret: str, reporter: Reporter,
                detail: dict[str, Any]) -> BackupRecord:
        """A pg_dump archive or a vault's tar made into a backup on `storage`, listed once it verified there."""
        catalog = self.catalog  # a catalog that cannot be opened fails here, before anything is stored
        with self._watched(storage.name, "upload"):
            from recovery_console.engine.import_store import import_file

            done = import_file(found, storage, secret, reporter, lambda sha: self._refuse_reimport(storage.name, sha))
        detail.update(backup_id=done.result.metadata.backup_id, key=done.key, file_sha256=done.file_sha256,
                      sha256=done.result.encrypted_sha256)
        record = catalog.add(storage, done.key, done.result.metadata, done.result.encrypted_sha256)
        catalog.remember_verify(record, "ok", "full")
        return catalog.get(record.target, record.key)

    def _refuse_reimport(self, target: str, file_sha256: str) -> None:
        """Refuse a file the target already holds an import of (by the file's SHA-256 in the backups' metadata)."""
        for record in self.catalog.records([target]):
            source = record.metadata.extra.get("imported_from") if record.metadata else None
            if isinstance(source, dict) and source.get("sha256") == file_sha256:
                raise UsageError(f"Target '{target}' already holds this file, imported as backup "
                                 f"{record.short_id} on {record.created}.",
                                 hint="It is already there; nothing was uploaded.")

    def _store_verified(self, path: Path, storage: Storage, key: str, report: StreamReport, reporter: Reporter,
                        detail: dict[str, Any]) -> BackupRecord:
        """Copy a verified file to a target, checking the bytes sent are the bytes verified."""
        ref = BackupRef(location=str(path.absolute()), path=path)
        try:
            existing = storage.stat(key)
        except NotFoundError:
            existing = None
        if existing is not None:
            raise UsageError(f"Target '{storage.name}' already holds {key}.",
                             hint="It is already uploaded; the backup list shows it.",
                             cli_hint="It is already uploaded; `backup list` shows it.")
        storage.check_room(report.encrypted_size)
        reporter.start(Phase.UPLOAD, report.encrypted_size)
        sha256 = upload_checked(ref.open, storage, key, report.ciphertext_sha256, reporter)
        write_sidecar(storage, key, sha256)
        detail.update(backup_id=report.metadata.backup_id, key=key)
        return self.catalog.add(storage, key, report.metadata, sha256)

    def delete(self, ref: BackupRef, why: dict[str, Any] | None = None) -> None:
        """Remove a backup and its sidecar from its target, and from the catalog; never a pinned one.

        `why` goes into the audit entry (a prune names the plan line and the rules that deleted it)."""
        if ref.record is None or ref.storage is None:
            raise UsageError("Only backups in the catalog can be deleted; delete local files yourself.")
        with self.audited("backup.delete", ref.location, {"backup_id": ref.record.backup_id, **(why or {})}):
            pin = self.pins.get(ref.record.target, ref.record.key)
            if pin is not None:
                raise UsageError(f"{ref.location} is pinned (legal hold: {pin.reason}); it cannot be deleted.",
                                 hint="Unpin it first if the hold is over; nothing was deleted.")
            ref.storage.delete(ref.record.key)
            with suppress(NotFoundError):  # a backup without a sidecar
                ref.storage.delete(ref.record.key + SIDECAR_SUFFIX)
            self.catalog.forget(ref.record)
