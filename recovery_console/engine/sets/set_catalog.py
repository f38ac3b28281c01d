"""Recovery sets in the catalog: one row per set folder holding a manifest, what its target lists in it, and
what decrypting its manifest taught us; each set's state (complete, damaged, unknown) follows from them.

Listing never derives a key: a new set's member files are named by its sidecar (docs/FORMAT.md 19.5),
fetched once. The manifest's sizes are known once the set was written here or verified with the key.
A folder without a manifest but with a set's file in it is an unfinished set: never a row, only counted for the
sweep; one holding only files no set writes (left by someone else after a delete) is not a set at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.sets.manifest import SetManifest
from recovery_console.engine.sets.set_naming import (
    MANIFEST_NAME,
    SET_PREFIX,
    is_member_file,
    is_set_file,
    parse_set_key,
)
from recovery_console.engine.state.catalog import Catalog, utc_now
from recovery_console.engine.storage.base import ObjectInfo, Storage
from recovery_console.errors import CatalogError, NotFoundError, RecoveryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sets (
    target TEXT NOT NULL,
    folder TEXT NOT NULL,
    short_id TEXT NOT NULL,
    created TEXT,
    app_version TEXT,
    mode TEXT,
    manifest_size INTEGER NOT NULL,
    manifest_mtime REAL NOT NULL,
    manifest_etag TEXT,
    files TEXT NOT NULL,
    named TEXT,
    manifest TEXT,
    verified_at TEXT,
    verify_result TEXT,
    verify_detail TEXT,
    PRIMARY KEY (target, folder)
)
"""
_COLUMNS = ("target", "folder", "short_id", "created", "app_version", "mode", "files", "named", "manifest",
            "verified_at", "verify_result", "verify_detail")
COMPLETE, DAMAGED, UNKNOWN = "complete", "damaged", "unknown"
UNFINISHED = "unfinished"
"""The state of a folder without a manifest, as a prune reports it (engine/sets/set_prune.py); never a row."""


@dataclass(frozen=True)
class Unfinished:
    """A set folder with no manifest: its writer failed or was killed."""

    target: str
    folder: str
    keys: tuple[str, ...]
    newest: float


@dataclass(frozen=True)
class SetSync:
    target: str
    sets: int
    unfinished: tuple[Unfinished, ...]


@dataclass(frozen=True)
class SetRecord:
    """A set as the catalog knows it, with its state: complete (restorable), damaged (never), unknown (verify it)."""

    target: str
    folder: str
    short_id: str
    created: str | None
    app_version: str | None
    mode: str | None
    files: dict[str, int]
    member_files: tuple[str, ...] | None
    manifest: SetManifest | None
    verified_at: str | None = None
    verify_result: str | None = None
    verify_detail: str | None = None
    state: str = UNKNOWN
    problems: tuple[str, ...] = field(default=())

    @property
    def set_id(self) -> str:
        return self.manifest.set_id if self.manifest else self.short_id

    @property
    def size(self) -> int:
        """Bytes stored for the set: every file listed in its folder."""
        return sum(self.files.values())

    @property
    def manifest_key(self) -> str:
        return self.folder + MANIFEST_NAME

    @property
    def key(self) -> str:
        """The set's key as a whole, for pins and prune plans: its folder, `sets/rc_set_…/` (set_naming)."""
        return self.folder

    def as_dict(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "short_id": self.short_id, "target": self.target, "folder": self.folder,
                "created": self.created, "app_version": self.app_version, "mode": self.mode, "size": self.size,
                "state": self.state, "problems": list(self.problems), "verified_at": self.verified_at,
                "verify_result": self.verify_result, "verify_detail": self.verify_detail,
                "member_files": list(self.member_files or ()),
                "manifest": json.loads(self.manifest.to_json()) if self.manifest else None}


def judge(record: SetRecord) -> SetRecord:
    """The set's state from what its target lists: every member named must be there (at the manifest's size)."""
    problems: list[str] = []
    if record.manifest is not None:
        expected: dict[str, int | None] = {m.key: m.size for m in record.manifest.members}
    elif record.member_files is not None:
        expected = dict.fromkeys(record.member_files)
    else:
        expected = {}
    if record.files and MANIFEST_NAME not in record.files:
        problems.append(f"its manifest file {MANIFEST_NAME} is missing")
    for name, size in expected.items():
        listed = record.files.get(name)
        if listed is None:
            problems.append(f"member file {name} is missing")
        elif size is not None and listed != size:
            problems.append(f"member file {name} is {listed:,} bytes; the manifest says {size:,}")
        elif name + SIDECAR_SUFFIX not in record.files:
            problems.append(f"member file {name} has no .sha256 sidecar")
    if record.verify_result == "failed":
        problems.append(f"its last verify failed: {record.verify_detail}")
    if problems:
        state = DAMAGED
    elif record.manifest is None and record.member_files is None:
        state, problems = UNKNOWN, ["its members cannot be named without the key (the set's sidecar is missing); "
                                    "verify it"]
    else:
        state = COMPLETE
    return SetRecord(**{**record.__dict__, "state": state, "problems": tuple(problems)})


class SetCatalog:
    """The `sets` table in the catalog's file."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        with catalog.transaction() as db:
            db.execute(_SCHEMA)

    def sync(self, storage: Storage) -> SetSync:
        """Make the target's set rows match what it lists now; unfinished folders are returned, not recorded."""
        folders: dict[str, dict[str, ObjectInfo]] = defaultdict(dict)
        for info in storage.list(SET_PREFIX):
            parsed = parse_set_key(info.key)
            if parsed is not None:
                folders[parsed[0].folder][parsed[1]] = info
        complete = {folder: files for folder, files in folders.items() if MANIFEST_NAME in files}
        with self.catalog.reading() as db:
            known = {row[0]: row[1:] for row in db.execute(
                "SELECT folder, manifest_size, manifest_mtime, manifest_etag FROM sets WHERE target = ?",
                (storage.name,))}
        # A set listed complete before whose manifest is gone now is damaged, not unfinished: its row stays (judge
        # names the missing manifest) and no sweep removes what is left of it.
        lost = {folder: files for folder, files in folders.items() if folder not in complete and folder in known}
        unfinished = tuple(Unfinished(storage.name, folder, tuple(i.key for i in files.values()),
                                      max(i.mtime for i in files.values()))
                           for folder, files in folders.items()
                           if folder not in complete and folder not in lost and any(is_set_file(n) for n in files))
        named: dict[str, str | None] = {}
        for folder, files in complete.items():  # outside the transaction: a network read per new set
            info = files[MANIFEST_NAME]
            row = known.get(folder)
            if row is None or row[0] != info.size or (row[2] or row[1]) != (info.etag or info.mtime):
                named[folder] = _member_names(storage, folder + MANIFEST_NAME + SIDECAR_SUFFIX)
        with self.catalog.transaction() as db:
            gone = [(storage.name, folder) for folder in known.keys() - complete.keys() - lost.keys()]
            db.executemany("DELETE FROM sets WHERE target = ? AND folder = ?", gone)
            for folder, files in {**complete, **lost}.items():
                sizes = json.dumps({name: info.size for name, info in files.items()}, sort_keys=True)
                if folder in named:
                    self._upsert(db, storage.name, folder, files[MANIFEST_NAME], sizes, named[folder])
                else:
                    db.execute("UPDATE sets SET files = ? WHERE target = ? AND folder = ?",
                               (sizes, storage.name, folder))
        return SetSync(storage.name, len(complete), unfinished)

    @staticmethod
    def _upsert(db: sqlite3.Connection, target: str, folder: str, manifest: ObjectInfo, files: str,
                named: str | None) -> None:
        parsed = parse_set_key(manifest.key)
        assert parsed is not None
        name = parsed[0]
        created = name.created.isoformat().replace("+00:00", "Z")
        db.execute("DELETE FROM sets WHERE target = ? AND folder = ?", (target, folder))
        db.execute("INSERT INTO sets (target, folder, short_id, created, app_version, mode, manifest_size, "
                   "manifest_mtime, manifest_etag, files, named) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (target, folder, name.short_id, created, name.app_version, name.mode, manifest.size,
                    manifest.mtime, manifest.etag, files, named))

    def forget(self, target: str, folder: str) -> None:
        """Drop a deleted set's row."""
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM sets WHERE target = ? AND folder = ?", (target, folder))

    def remember_manifest(self, target: str, folder: str, manifest: SetManifest) -> None:
        with self.catalog.transaction() as db:
            db.execute("UPDATE sets SET manifest = ? WHERE target = ? AND folder = ?",
                       (manifest.to_json().decode(), target, folder))

    def remember_verify(self, target: str, folder: str, result: str, detail: str = "") -> None:
        with self.catalog.transaction() as db:
            db.execute("UPDATE sets SET verified_at = ?, verify_result = ?, verify_detail = ? "
                       "WHERE target = ? AND folder = ?", (utc_now(), result, detail, target, folder))

    def records(self, targets: list[str] | None = None) -> list[SetRecord]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM sets"
        args: tuple[str, ...] = ()
        if targets is not None:
            query += f" WHERE target IN ({', '.join('?' * len(targets))})"
            args = tuple(targets)
        with self.catalog.reading() as db:
            rows = db.execute(query + " ORDER BY created DESC, folder DESC", args).fetchall()
        return [judge(_record(row)) for row in rows]

    def get(self, target: str, folder: str) -> SetRecord:
        for record in self.records([target]):
            if record.folder == folder:
                return record
        raise NotFoundError(f"No recovery set {folder} on target '{target}' in the catalog.")


def _member_names(storage: Storage, sidecar_key: str) -> str | None:
    """The member files the set's sidecar names (its lines after the first), as JSON; None if it cannot be read."""
    try:
        text = storage.get_bytes(sidecar_key).decode("utf-8")
    except (NotFoundError, UnicodeDecodeError):
        return None
    names = []
    for line in text.splitlines()[1:]:
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and is_member_file(parts[1].lstrip("*")):
            names.append(parts[1].lstrip("*"))
    return json.dumps(names)


def _record(row: tuple[Any, ...]) -> SetRecord:
    data = dict(zip(_COLUMNS, row, strict=True))
    raw, named, files = data.pop("manifest"), data.pop("named"), data.pop("files")
    try:
        return SetRecord(**data, files=json.loads(files),
                         manifest=SetManifest.from_json(raw.encode()) if raw else None,
                         member_files=tuple(json.loads(named)) if named is not None else None)
    except (RecoveryError, ValueError, TypeError, KeyError) as exc:
        raise CatalogError(f"The catalog's record of set {data.get('folder')!r} is damaged: {exc}") from None
