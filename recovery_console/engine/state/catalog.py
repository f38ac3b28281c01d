"""The SQLite catalog of backups, kept in step with what the targets actually hold.

Listing syncs from storage first: objects that vanished are forgotten, new ones are added from
their names alone, unchanged ones keep what decrypting them once taught us. Nothing here ever
derives a key, so listing thousands of backups stays fast.

The catalog is only a cache of what the targets hold: when its file is damaged, unwritable or
locked for too long, every call raises `CatalogError` saying so, and `Console.rebuild_catalog`
(`recovery-console catalog rebuild`) replaces it with a fresh one listed from the targets.
Writers take SQLite's write lock before they read (`BEGIN IMMEDIATE`) and upsert, so any number
of processes may sync the same target at once.

A verdict is never dropped: when a verified file changes on its target, its record keeps the last
verdict marked "changed since its last verify", and `verify_history` keeps every verify outcome,
including the attempts that could not reach the file (which say nothing about the backup).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recovery_console.engine.container.naming import BACKUP_PREFIX, is_backup_key, parse_backup_key
from recovery_console.engine.state.file_lock import lock_within
from recovery_console.engine.storage.base import ObjectInfo, Storage
from recovery_console.errors import CatalogError, NotFoundError, RecoveryError
from recovery_console.models.backup import BackupMetadata, BackupRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backups (
    target TEXT NOT NULL,
    key TEXT NOT NULL,
    short_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    etag TEXT,
    created TEXT,
    app_version TEXT,
    mode TEXT,
    metadata TEXT,
    sha256 TEXT,
    verified_at TEXT,
    verify_result TEXT,
    verify_detail TEXT,
    PRIMARY KEY (target, key)
);
CREATE INDEX IF NOT EXISTS backups_short_id ON backups (short_id);
"""
_VERIFY_SCHEMA = """
ALTER TABLE backups ADD COLUMN verify_changed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS verify_history (
    target TEXT NOT NULL,
    key TEXT NOT NULL,
    time TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS verify_history_backup ON verify_history (target, key, time)
"""
_OPENED_WITH_SCHEMA = """
CREATE TABLE IF NOT EXISTS opened_with (
    target TEXT NOT NULL,
    key TEXT NOT NULL,
    profile TEXT NOT NULL,
    entry TEXT NOT NULL,
    label TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (target, key)
)
"""
"""Which of a profile's instance secrets opened (or made) a backup: its keyring entry and label, never the secret."""
_COLUMNS = ("short_id", "target", "key", "size", "mtime", "created", "app_version", "mode",
            "metadata", "sha256", "verified_at", "verify_result", "verify_detail", "verify_changed")
VERIFY_OUTCOMES = ("ok", "failed", "unreachable")
"""What one verify attempt found: the backup passed, failed, or could not be read at all (no verdict)."""


@dataclass(frozen=True)
class SyncResult:
    """How a listing changed the catalog for one target."""

    target: str
    added: int
    removed: int
    changed: int
    unchanged: int
    error: str = ""
    """Why the target could not be listed (its records were left as they were); empty when it was."""


@dataclass(frozen=True)
class OpenedWith:
    """The instance secret that last opened (or made) a backup: the profile, its keyring entry and label."""

    profile: str
    entry: str
    label: str
    time: str


@dataclass(frozen=True)
class VerifyEvent:
    """One verify attempt of one backup, kept in the catalog's history."""

    time: str
    outcome: str
    """One of VERIFY_OUTCOMES; "unreachable" is no verdict on the backup."""
    detail: str = ""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _same_object(known: tuple[int, float, str | None], info: ObjectInfo) -> bool:
    """Whether a listed object is the one recorded as (size, mtime, etag).

    Where both sides have an ETag (S3), size and ETag decide: a content hash, where a modification
    time can read a second apart between a HEAD just after the upload and a later listing (seen
    with rclone serve s3). Elsewhere size and modification time decide.
    """
    size, mtime, etag = known
    if etag is not None and info.etag is not None:
        return (size, etag) == (info.size, info.etag)
    return (size, mtime) == (info.size, info.mtime)


def _record(row: sqlite3.Row) -> BackupRecord:
    data = dict(zip(_COLUMNS, row, strict=True))
    raw = data.pop("metadata")
    data["verify_changed"] = bool(data["verify_changed"])
    try:
        return BackupRecord(**data, metadata=BackupMetadata.from_json(raw.encode()) if raw else None)
    except (RecoveryError, ValueError, TypeError, AttributeError) as exc:
        raise CatalogError(f"The catalog's record of {data.get('key')!r} on target {data.get('target')!r} "
                           f"is damaged: {exc}", hint=REBUILD_HINT, cli_hint=REBUILD_CLI_HINT) from None


_UPSERT = (
    "INSERT INTO backups (target, key, short_id, size, mtime, etag, created, app_version, mode) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, key) DO UPDATE SET "
    "short_id = excluded.short_id, size = excluded.size, mtime = excluded.mtime, etag = excluded.etag, "
    "created = excluded.created, app_version = excluded.app_version, mode = excluded.mode, metadata = NULL, "
    "sha256 = NULL, verify_changed = verify_result IS NOT NULL"
)
"""A changed object forgets what decrypting it taught us, but keeps its last verdict, marked as changed since."""
REBUILD_HINT = ("The catalog is only a cache of what the targets hold: rebuild it to list them again into a fresh "
                "one (verify verdicts recorded in it are then forgotten).")
REBUILD_CLI_HINT = ("The catalog is only a cache of what the targets hold: run `recovery-console catalog rebuild` "
                    "to list them again into a fresh one (verify verdicts recorded in it are then forgotten).")


class Catalog:
    """One SQLite file; each call opens a short connection so workers on other threads can use it."""

    busy_timeout = 30.0
    """Seconds a call waits for another process's write before reporting the catalog as locked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._set_up():
            return  # the usual case takes no lock: a stopped process holding the set-up lock cannot stall us
        with self._setup_lock():
            if not self._set_up():  # only a new or older catalog needs the write lock
                with self._reading() as db:
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, read by every later connection
                with self._transaction() as db:
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        db.execute(statement)
                    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'verify_history'").fetchone():
                        for statement in filter(str.strip, _VERIFY_SCHEMA.split(";")):
                            db.execute(statement)
                    db.execute(_OPENED_WITH_SCHEMA)

    def _set_up(self) -> bool:
        """Whether the file is in WAL mode with every table of this version (a read: readers never wait)."""
        if not self.path.exists():
            return False
        with self._reading() as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                return False
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        return {"backups_short_id", "verify_history", "opened_with"} <= names

    @contextmanager
    def _setup_lock(self) -> Iterator[None]:
        """Serialise the switch to WAL and the schema set-up between processes: SQLite answers a journal
        mode change that races another connection with "database is locked" at once, not after its timeout."""
        lock_path = self.path.with_name(self.path.name + ".setup-lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise CatalogError(f"The backup catalog {self.path} cannot be used ({exc.strerror}: {lock_path}).",
                               hint=REBUILD_HINT, cli_hint=REBUILD_CLI_HINT) from exc
        try:
            lock_within(fd, fcntl.LOCK_EX, "backup catalog's set-up lock", lock_path, self.busy_timeout)
            yield
        finally:
            os.close(fd)

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():  # made private as every other file of the console (SQLite's -wal and -shm follow)
            try:
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError as exc:
                raise CatalogError(f"The backup catalog {self.path} cannot be created ({exc.strerror}).",
                                   hint=REBUILD_HINT, cli_hint=REBUILD_CLI_HINT) from exc
        return sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite's exceptions into a CatalogError that says what the catalog is and how to rebuild it."""
        started = time.monotonic()
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                waited = time.monotonic() - started >= self.busy_timeout
                what = (f"has been locked by another process for over {self.busy_timeout:g} seconds" if waited
                        else "is locked by another process")
                hint = ("Wait for the other Recovery Console window or command to finish, then try again. "
                        + REBUILD_HINT)
            else:
                what, hint = f"cannot be used ({text})", REBUILD_HINT
            raise CatalogError(f"The backup catalog {self.path} {what}.", hint=hint,
                               cli_hint=hint.replace(REBUILD_HINT, REBUILD_CLI_HINT)) from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._errors(), closing(self._connect()) as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the write lock from its first statement (reads included)."""
        with self._errors(), closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A short read on the catalog's file, for the tables kept beside `backups` (recovery sets' set_catalog)."""
        return self._reading()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction on the catalog's file, for the tables kept beside `backups`."""
        return self._transaction()

    def sync(self, storage: Storage) -> SyncResult:
        """Make the catalog's records for this target match what the target lists right now."""
        listed = {info.key: info for info in storage.list(BACKUP_PREFIX) if is_backup_key(info.key)}
        with self._transaction() as db:
            known = {key: (size, mtime, etag) for key, size, mtime, etag in
                     db.execute("SELECT key, size, mtime, etag FROM backups WHERE target = ?", (storage.name,))}
            gone = [(storage.name, key) for key in known.keys() - listed.keys()]
            db.executemany("DELETE FROM backups WHERE target = ? AND key = ?", gone)
            db.executemany("DELETE FROM verify_history WHERE target = ? AND key = ?", gone)
            db.executemany("DELETE FROM opened_with WHERE target = ? AND key = ?", gone)
            new = [info for key, info in listed.items() if key not in known]
            changed = [info for key, info in listed.items() if key in known and not _same_object(known[key], info)]
            self._insert(db, storage.name, new + changed)
            changed_keys = {info.key for info in changed}
            db.executemany("UPDATE backups SET mtime = ? WHERE target = ? AND key = ?",
                           [(info.mtime, storage.name, key) for key, info in listed.items()
                            if key in known and key not in changed_keys and known[key][1] != info.mtime])
        return SyncResult(storage.name, len(new), len(gone), len(changed), len(listed) - len(new) - len(changed))

    @staticmethod
    def _insert(db: sqlite3.Connection, target: str, infos: Iterable[ObjectInfo]) -> None:
        rows = []
        for info in infos:
            name = parse_backup_key(info.key)
            created = name.created.isoformat().replace("+00:00", "Z") if name.created else None
            rows.append((target, info.key, name.short_id, info.size, info.mtime, info.etag, created,
                         name.app_version, name.mode))
        db.executemany(_UPSERT, rows)

    def add(self, storage: Storage, key: str, metadata: BackupMetadata, sha256: str) -> BackupRecord:
        """Record an object just written, with what we know of it, without relisting the target."""
        info = storage.stat(key)
        with self._transaction() as db:
            self._insert(db, storage.name, [info])
            db.execute("UPDATE backups SET metadata = ?, sha256 = ? WHERE target = ? AND key = ?",
                       (metadata.to_json().decode(), sha256, storage.name, key))
        return self.get(storage.name, key)

    def remember_metadata(self, record: BackupRecord, metadata: BackupMetadata) -> None:
        with self._transaction() as db:
            db.execute("UPDATE backups SET metadata = ? WHERE target = ? AND key = ? AND size = ? AND mtime = ?",
                       (metadata.to_json().decode(), record.target, record.key, record.size, record.mtime))

    def remember_verify(self, record: BackupRecord, result: str, detail: str = "") -> None:
        """Store a verdict ("ok" or "failed") on the backup as it is now, and add it to its history."""
        now = utc_now()
        with self._transaction() as db:
            db.execute("UPDATE backups SET verified_at = ?, verify_result = ?, verify_detail = ?, verify_changed = 0 "
                       "WHERE target = ? AND key = ?", (now, result, detail, record.target, record.key))
            self._log_verify(db, record, now, result, detail)

    def remember_unreachable(self, record: BackupRecord, detail: str) -> None:
        """Add a verify that could not read the backup to its history; its verdict stays as it was."""
        with self._transaction() as db:
            self._log_verify(db, record, utc_now(), "unreachable", detail)

    @staticmethod
    def _log_verify(db: sqlite3.Connection, record: BackupRecord, time: str, outcome: str, detail: str) -> None:
        if outcome not in VERIFY_OUTCOMES:
            raise ValueError(f"unknown verify outcome {outcome!r}")
        db.execute("INSERT INTO verify_history (target, key, time, outcome, detail) VALUES (?, ?, ?, ?, ?)",
                   (record.target, record.key, time, outcome, detail))

    def remember_opened_with(self, record: BackupRecord, profile: str, entry: str, label: str) -> None:
        """Record which of `profile`'s instance secrets opened (or made) this backup: names only."""
        with self._transaction() as db:
            db.execute("INSERT INTO opened_with (target, key, profile, entry, label, time) VALUES (?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (target, key) DO UPDATE SET profile = excluded.profile, entry = excluded.entry, "
                       "label = excluded.label, time = excluded.time",
                       (record.target, record.key, profile, entry, label, utc_now()))

    def opened_with(self, targets: Iterable[str] | None = None) -> dict[tuple[str, str], OpenedWith]:
        """(target, key) → the secret that last opened each backup, for the backups that have one on record."""
        query = "SELECT target, key, profile, entry, label, time FROM opened_with"
        args: tuple[str, ...] = ()
        if targets is not None:
            args = tuple(targets)
            query += f" WHERE target IN ({', '.join('?' * len(args))})"
        with self._reading() as db:
            rows = db.execute(query, args).fetchall()
        return {(row[0], row[1]): OpenedWith(*row[2:]) for row in rows}

    def verify_history(self, record: BackupRecord) -> list[VerifyEvent]:
        """Every verify attempt of this backup, newest first."""
        with self._reading() as db:
            rows = db.execute("SELECT time, outcome, detail FROM verify_history WHERE target = ? AND key = ? "
                              "ORDER BY time DESC, rowid DESC", (record.target, record.key)).fetchall()
        return [VerifyEvent(*row) for row in rows]

    def full_verify_of(self, target: str, info: ObjectInfo) -> str | None:
        """When this very object (the same by _same_object's rule) last passed a full verify."""
        with self._reading() as db:
            row = db.execute("SELECT verified_at, size, mtime, etag FROM backups WHERE target = ? AND key = ? "
                             "AND verify_result = 'ok' AND verify_detail = 'full' AND verify_changed = 0",
                             (target, info.key)).fetchone()
        return row[0] if row and _same_object(tuple(row[1:]), info) else None

    def forget(self, record: BackupRecord) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM backups WHERE target = ? AND key = ?", (record.target, record.key))
            db.execute("DELETE FROM verify_history WHERE target = ? AND key = ?", (record.target, record.key))
            db.execute("DELETE FROM opened_with WHERE target = ? AND key = ?", (record.target, record.key))

    def get(self, target: str, key: str) -> BackupRecord:
        with self._reading() as db:
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM backups WHERE target = ? AND key = ?",
                             (target, key)).fetchone()
        if row is None:
            raise NotFoundError(f"No backup {key} on target '{target}' in the catalog.")
        return _record(row)

    def records(self, targets: Iterable[str] | None = None) -> list[BackupRecord]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM backups"
        args: tuple[str, ...] = ()
        if targets is not None:
            names = tuple(targets)
            query += f" WHERE target IN ({', '.join('?' * len(names))})"
            args = names
        with self._reading() as db:
            rows = db.execute(query + " ORDER BY created DESC, key DESC", args).fetchall()
        return [_record(row) for row in rows]
