"""One backup of a profile with members: a recovery set (docs/FORMAT.md 19).

Every member goes through the container writer to its own file in the set's folder on the target:
databases by pg_dump, folders as a streamed tar (engine/vault/folder_tar.py), at most PARALLEL at
once (two databases on one server are dumped side by side). The manifest is written last, so a set
is listed only once whole. On a failure or a cancel the files already stored are removed; a set
whose writer was killed has no manifest, is never listed, and is swept by a later set backup.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from recovery_console import __version__
from recovery_console.engine.archive.archive_probe import ArchiveProbe
from recovery_console.engine.background import in_background
from recovery_console.engine.console import Console
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.container.writer import EncryptResult, encrypt_stream
from recovery_console.engine.live_backup import start_dump
from recovery_console.engine.output_checks import check_quota_after, write_sidecar
from recovery_console.engine.pg.pgdump import DUMP_COMPRESSIONS, DumpStream
from recovery_console.engine.progress import CancelToken, Phase, Reporter
from recovery_console.engine.sets.manifest import ManifestMember, SetManifest, seal_manifest, stamp_ms
from recovery_console.engine.sets.member_share import MemberShare
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord
from recovery_console.engine.sets.set_naming import MANIFEST_NAME, member_file, set_folder
from recovery_console.engine.sets.set_sweep import remove_folder, sweep_unfinished
from recovery_console.engine.state.locks import database_identity, database_lock
from recovery_console.engine.state.named_store import usable_text
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.engine.state.targets import open_storage, target_scope
from recovery_console.engine.storage.base import Storage
from recovery_console.engine.vault.byte_queue import ByteQueue
from recovery_console.engine.vault.folder_tar import write_folder_tar
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import Cancelled, DatabaseError, IntegrityError, NotFoundError, RecoveryError, UsageError
from recovery_console.models.backup import MODES, BackupMetadata
from recovery_console.models.profile import PRIMARY_MEMBER, MemberKind, Profile
from recovery_console.models.target import TargetConfig

log = logging.getLogger(__name__)

PARALLEL = 2
"""Members written at once: two pg_dumps on one server overlap well; more would only share the same cores."""
POLL = 0.2
"""Seconds between looks at the cancel token while members run."""
FOLDER_ZSTD_LEVEL = 1
"""A folder member's zstd level: a vault's large files are mostly compressed or encrypted already, and level 3 took
twice the CPU of level 1 on bench/vault.py's vault for 12 % less output (a database archive keeps level 3)."""


@dataclass(frozen=True)
class PlannedMember:
    """What one member of the set is read from: a database (its connection as a profile) or a folder."""

    index: int
    kind: str
    name: str
    connection: Profile | None = None
    password: str | None = None
    folder: Path | None = None


def plan_members(console: Console, profile: Profile) -> list[PlannedMember]:
    """The profile's own database (member `main`) and then each member, every database's mode checked."""
    profile.dump_url()
    planned = [PlannedMember(1, "database", PRIMARY_MEMBER, profile, console.profiles.dump_password(profile))]
    passwords = ProfileMembers(console.profiles)
    for index, member in enumerate(profile.members, start=2):
        if member.kind is MemberKind.DATABASE:
            connection = profile.member_connection(member)
            connection.dump_url()
            planned.append(PlannedMember(index, "database", member.name, connection,
                                         passwords.password(profile, member)))
        else:
            planned.append(PlannedMember(index, "folder", member.name, folder=Path(member.path or "")))
    return planned


def backup_set(console: Console, profile_name: str, *, description: str = "", mode: str = "manual",
               compression: str = "zstd", secret: str | None = None, reporter: Reporter | None = None,
               iterations: int = fmt.DEFAULT_ITERATIONS, parallel: int = PARALLEL,
               now: Callable[[], datetime] | None = None, lock_held: bool = False) -> SetRecord:
    """Back up every member of the profile into one recovery set on its target; only a whole set is listed.
    Holds the lock of every database in it, so no restore of one of them overlaps the backup (`lock_held`: the
    caller holds them already, through `set_locks`: a policy run keeps them across its verify and follow-ups)."""
    if mode not in MODES:
        raise UsageError(f"Unknown backup mode '{mode}'; choose manual or scheduled.")
    if compression not in DUMP_COMPRESSIONS:
        raise UsageError(f"Unknown compression '{compression}'; choose one of {', '.join(DUMP_COMPRESSIONS)}.")
    usable_text(description, "The description")
    profile = console.profiles.store.get(profile_name)
    if not profile.target:
        raise UsageError(f"Profile '{profile_name}' has no backup target.",
                         hint=f"Edit profile '{profile_name}' and choose the target its backups go to.",
                         cli_hint=f"Set one with `profile set-target {profile_name} TARGET`.")
    planned = plan_members(console, profile)
    secret = secret if secret is not None else console.profiles.instance_secret(profile.name)
    with nullcontext() if lock_held else set_locks(console, profile):
        return _write_set(console, profile, planned, secret, description=description, mode=mode,
                          compression=compression, reporter=reporter or Reporter(), iterations=iterations,
                          parallel=max(1, parallel), created=utc_now(now() if now else None))


def database_identities(profile: Profile) -> list[str]:
    """The lock identity of every database of the set (the profile's own and each database member's), sorted."""
    urls = [profile.dump_url()] + [profile.member_connection(m).dump_url() for m in profile.members
                                   if m.kind is MemberKind.DATABASE]
    return sorted({database_identity(url) for url in urls})


@contextmanager
def set_locks(console: Console, profile: Profile, action: str = "backup") -> Iterator[None]:
    """Hold the lock of every database of the set for the block, or raise BusyError naming the first one busy."""
    with ExitStack() as locks:
        for identity in database_identities(profile):  # in one order, so two set jobs sharing databases cannot deadlock
            locks.enter_context(database_lock(console.paths, identity, action, identity.split("/", 1)[-1]))
        yield


def _write_set(console: Console, profile: Profile, planned: list[PlannedMember], secret: str, *, description: str,
               mode: str, compression: str, reporter: Reporter, iterations: int, parallel: int,
               created: str) -> SetRecord:
    assert profile.target is not None
    storage = console.storage(profile.target)
    sets = SetCatalog(console.catalog)
    set_id = str(uuid.uuid4())
    folder = set_folder(set_id, created, __version__, mode)
    base = BackupMetadata(backup_id="", created_at=created, app_version=__version__, mode=mode,
                          description=description, created_by=user_at_host())
    with console.audited("backup.create-set", storage.location(folder),
                         {"target": storage.name, "profile": profile.name,
                          "members": [p.name for p in planned]}) as detail:
        # The manifest's key is derived while the members are written, not after, on the CPU time they leave
        # (their last fsync): it is needed only once they are all written.
        manifest_salt = os.urandom(fmt.SALT_SIZE)
        in_background(fmt.derive_keys, secret, fmt.Header(iterations=iterations,
                                                          chunk_exponent=fmt.DEFAULT_CHUNK_EXPONENT,
                                                          salt=manifest_salt), name="rc-manifest-key", idle=True)
        sweep_unfinished(console, storage, sets.sync(storage).unfinished)
        reporter.start(Phase.DUMP)
        abort = CancelToken()
        config = console.targets.resolve(profile.target)

        running = _RunningDumps()

        def one(member: PlannedMember) -> ManifestMember:
            try:
                with _worker_storage(console, config, storage) as own:
                    return _write_member(console, own, folder, member, secret, base, set_id, compression,
                                         MemberShare(reporter, abort), iterations, running)
            except DatabaseError as exc:  # which of the set's databases it was, before what went wrong with it
                exc.message = f"Member '{member.name}': {exc.message}"
                raise

        written: list[ManifestMember] = []
        failures: list[BaseException] = []
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="rc-set-member")
        try:
            pending = {pool.submit(one, member) for member in planned}
            while pending:
                done, pending = wait(pending, timeout=POLL, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        written.append(future.result())
                    except BaseException as exc:  # noqa: BLE001 - every failure is kept; the first real one is raised
                        failures.append(exc)
                if (failures or reporter.token.cancelled) and not abort.cancelled:
                    abort.cancel()  # members between chunks stop at once; a pg_dump waiting on a lock is stopped
                    running.stop()
        except BaseException:  # this thread interrupted (a second Ctrl-C): the members are stopped and removed
            abort.cancel()
            running.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            _clean_up(storage, folder)
            raise
        pool.shutdown(wait=True)
        try:
            reporter.check()  # a cancel is the outcome, whatever the stopped pg_dumps reported
            if failures:  # the first is what went wrong; the others may be members stopped because of it
                raise next((f for f in failures if not isinstance(f, Cancelled)), failures[0])
            members = tuple(sorted(written, key=lambda m: m.index))
            check_still_there(storage, folder, members)
            manifest = SetManifest(set_id=set_id, created_at=created, finished_at=stamp_ms(), app_version=__version__,
                                   mode=mode, profile=profile.name, description=description,
                                   created_by=base.created_by, members=members)
            sealed = seal_manifest(manifest, secret, iterations=iterations, salt=manifest_salt)
            check_quota_after(storage, len(sealed.data))  # the members written count in what is used
            storage.put_bytes(folder + MANIFEST_NAME + SIDECAR_SUFFIX, set_sidecar_text(sealed.sha256, members))
            storage.put_bytes(folder + MANIFEST_NAME, sealed.data)  # last: from here on the set exists
        except BaseException:
            _clean_up(storage, folder)
            raise
        reporter.finish()
        sets.sync(storage)
        sets.remember_manifest(storage.name, folder, manifest)
        detail.update(set_id=set_id, size=sum(m.size for m in members) + len(sealed.data))
        return sets.get(storage.name, folder)


@contextmanager
def _worker_storage(console: Console, config: TargetConfig, shared: Storage) -> Iterator[Storage]:
    """A member's own connection to the target (a network storage is not shared between threads); a local
    folder needs none, so the console's is used."""
    if shared.kind == "local":
        yield shared
        return
    own = open_storage(config, console.secrets.lookup(target_scope(config.name)))
    try:
        yield own
    finally:
        own.close()


class _RunningDumps:
    """The pg_dumps the members started, so a cancel or a failure elsewhere can stop one that sends nothing (waiting
    on a lock): its reader then meets the end of its output and fails."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dumps: set[DumpStream] = set()
        self._stopped = False

    def add(self, dump: DumpStream) -> None:
        """Called as each pg_dump starts; one starting after `stop` is stopped at once."""
        with self._lock:
            self._dumps.add(dump)
            stopped = self._stopped
        if stopped:
            dump.terminate()

    def stop(self) -> None:
        """Stop every pg_dump still running (one that has ended is left alone), and any started from now on."""
        with self._lock:
            self._stopped = True
            dumps = list(self._dumps)
        for dump in dumps:
            dump.terminate()


def _write_member(console: Console, storage: Storage, folder: str, member: PlannedMember, secret: str,
                  base: BackupMetadata, set_id: str, compression: str, share: MemberShare,
                  iterations: int, running: _RunningDumps) -> ManifestMember:
    """One member through the container writer into its file (and its sidecar) in the set's folder."""
    key = folder + member_file(member.index, member.kind)
    started = stamp_ms()
    metadata = replace(base, backup_id=str(uuid.uuid4()),
                       extra={"set_id": set_id, "set_member": member.name, "set_member_kind": member.kind})
    if member.connection is not None:
        share.check()
        with start_dump(console, member.connection, member.password, compression,
                        opened=running.add) as (dump, header, size):
            metadata = replace(metadata, source="pg_dump", database=header.dbname, database_size=size,
                               server_version=header.server_version, pg_dump_version=dump.tool.version,
                               compression="zstd" if compression == "zstd" else "none",
                               source_name=f"pg_dump of {header.dbname}")
            probe = ArchiveProbe(dump)
            try:
                with storage.put(key) as upload:
                    result = encrypt_stream(probe, upload, secret, metadata, reporter=share, iterations=iterations)
                    probe.require_archive()
            finally:
                probe.close()
    else:
        assert member.folder is not None
        metadata = replace(metadata, compression="none" if compression == "none" else "zstd",
                           source_name=f"folder {member.folder}")
        result = _encrypt_folder(member.folder, storage, key, secret, metadata, share, iterations)
    write_sidecar(storage, key, result.encrypted_sha256)
    return ManifestMember(
        index=member.index, kind=member.kind, name=member.name, key=key.rsplit("/", 1)[-1],
        backup_id=metadata.backup_id, size=result.encrypted_size, sha256=result.encrypted_sha256,
        archive_length=result.sentinel.archive_length, archive_sha256=result.sentinel.archive_sha256.hex(),
        started_at=started, finished_at=stamp_ms(), database=metadata.database,
        server_version=metadata.server_version, folder=str(member.folder) if member.folder else None)


def _encrypt_folder(root: Path, storage: Storage, key: str, secret: str, metadata: BackupMetadata,
                    share: MemberShare, iterations: int) -> EncryptResult:
    """The folder's tar, written by a thread into a queue the writer reads: no copy of the vault on disk, and
    pieces of about a MiB handed over as they are (an OS pipe made the two threads take turns in 64 KiB)."""
    queue = ByteQueue()
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            write_folder_tar(root, queue, MemberShare(share, CancelToken(), count=False))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading side
            failed.append(exc)
        finally:
            queue.close()

    thread = threading.Thread(target=produce, name="rc-folder-tar", daemon=True)
    thread.start()
    try:
        with storage.put(key) as upload:
            result = encrypt_stream(queue, upload, secret, metadata, reporter=share, iterations=iterations,
                                    zstd_level=FOLDER_ZSTD_LEVEL)
            thread.join()
            if failed:
                raise failed[0]
    finally:
        queue.abandon()  # a writer still waiting on the queue gets BrokenPipeError and ends
        thread.join()
    return result


def set_sidecar_text(manifest_sha256: str, members: tuple[ManifestMember, ...]) -> bytes:
    """The set's sidecar (FORMAT.md 19.5): the manifest's line, then one line per member file."""
    lines = [f"{manifest_sha256}  {MANIFEST_NAME}"] + [f"{m.sha256}  {m.key}" for m in members]
    return ("\n".join(lines) + "\n").encode()


def check_still_there(storage: Storage, folder: str, members: tuple[ManifestMember, ...]) -> None:
    """Before the manifest makes the set real: every member file is still on the target, at its size."""
    for member in members:
        try:
            info = storage.stat(folder + member.key)
        except NotFoundError:
            raise IntegrityError(f"Member '{member.name}' vanished from the target before the set was finished.",
                                 hint="Something removed it while the backup ran; run the backup again.") from None
        if info.size != member.size:
            raise IntegrityError(f"Member '{member.name}' changed on the target before the set was finished.",
                                 hint="Run the backup again.")


def _clean_up(storage: Storage, folder: str) -> None:
    """A failed set's files removed and its folder with them, best effort: what cannot be (the target is gone)
    stays an unfinished set, never listed and swept later, and the failure that matters is the one being raised."""
    try:
        kept = remove_folder(storage, folder).folder_kept
    except RecoveryError as exc:
        log.warning("The files of the unfinished set %s stay on target %s until a later sweep: %s", folder,
                    storage.name, exc.message)
        return
    if kept:
        log.warning("%s", kept)
