"""Restore journals: what a restore created on a server, kept until nothing of it is left to remove.

One small JSON file per restore in the data folder, replaced whole at each step (state/atomic.py),
so that a restore the server or the process stopped leaves a true record of the databases the
console made. A database counts as the console's only once its creation succeeded, and by the OID
it got then: a later clean-up (engine/restore_cleanup.py) never drops a database of the same name
that someone else made. A journal is removed when nothing it records is left to drop.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recovery_console.engine.state.atomic import write_json
from recovery_console.engine.state.paths import AppPaths

if TYPE_CHECKING:
    from recovery_console.engine.state.runtime_dir import RuntimeDir

FOLDER = "restore-journal"


def journal_dir(paths: AppPaths) -> Path:
    return paths.data_dir / FOLDER


@dataclass
class RestoreJournal:
    """One restore's record. `created`: databases this console made and still owns (name → OID);
    `creating`: a name whose creation was asked for but not confirmed; `problem`: why the last attempt to drop
    what it made failed."""

    path: Path
    profile: str
    database: str
    identity: str
    started: str
    state: str = "running"
    creating: str | None = None
    created: dict[str, int] = field(default_factory=dict)
    problem: str = ""
    claims: RuntimeDir | None = field(default=None, repr=False, compare=False)
    """The running restore's runtime folder: a journal write cut short by a kill is swept at the next start."""

    @property
    def leftovers(self) -> list[str]:
        """The databases this journal still has to account for."""
        return list(self.created) + ([self.creating] if self.creating else [])

    def save(self) -> None:
        data = {"profile": self.profile, "database": self.database, "identity": self.identity,
                "started": self.started, "state": self.state, "creating": self.creating, "created": self.created,
                "problem": self.problem}
        write_json(self.path, data, claims=self.claims)

    def will_create(self, name: str) -> None:
        self.creating = name
        self.save()

    def made(self, name: str, oid: int) -> None:
        self.creating = None
        self.created[name] = oid
        self.save()

    def creation_failed(self) -> None:
        self.creating = None
        self.save()

    def handed_over(self, name: str) -> None:
        """`name` is no longer the console's to drop (it became the restored database, or a kept copy)."""
        self.created.pop(name, None)
        self.save()

    def completed(self, name: str) -> None:
        """`name` is restored and checked in full and the restore is about to end: let go without a write (a
        flushed write waits behind the server's I/O, a third of a second or more after a large restore), and
        `finish` removes the journal. A kill before that leaves `name` listed, and the server says what it became:
        a new database carries the restore's committed mark and is kept; a copy swapped in has left its name; a copy
        not swapped in is dropped, as before its check (restore_cleanup.py)."""
        self.created.pop(name, None)

    def finish(self, state: str, problem: str = "") -> None:
        """Remove the journal if nothing is left to drop; otherwise keep it with its end state and why."""
        if not self.leftovers:
            self.path.unlink(missing_ok=True)
            return
        self.state, self.problem = state, problem
        self.save()


def begin(paths: AppPaths, profile: str, database: str, identity: str,
          claims: RuntimeDir | None = None) -> RestoreJournal:
    """A new journal for a restore of `database` (lock identity `identity`) under `profile`, written at once."""
    started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    name = f"{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}.json"
    journal = RestoreJournal(journal_dir(paths) / name, profile, database, identity, started, claims=claims)
    journal.save()
    return journal


def load(path: Path) -> RestoreJournal | None:
    """The journal at `path`; None if it is gone or unreadable (a torn file cannot exist: writes are atomic)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return RestoreJournal(path, str(data["profile"]), str(data["database"]), str(data["identity"]),
                              str(data["started"]), str(data.get("state", "running")), data.get("creating"),
                              {str(k): int(v) for k, v in dict(data.get("created", {})).items()},
                              str(data.get("problem", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pending(paths: AppPaths, profile: str | None = None) -> list[RestoreJournal]:
    """Journals left by restores (of `profile`, or all), oldest first."""
    folder = journal_dir(paths)
    if not folder.is_dir():
        return []
    found = [j for p in sorted(folder.glob("*.json")) if (j := load(p)) is not None]
    return [j for j in found if profile is None or j.profile == profile]
