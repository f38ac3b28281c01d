"""The restored copy against the archive: every table present, with as many rows as the archive holds.

Counting a large table takes a full scan. `EarlyCount` makes those scans while pg_restore is still
building indexes and constraints after the data, on a connection of its own, so they overlap that work
instead of following it. An early count is trusted only when it equals the archive's: a table whose
COPY has not committed yet shows none of its rows, and nothing pg_restore does after the data adds or
removes a row. Every other table is counted again once pg_restore has finished, and every table's
presence is checked then, as before.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recovery_console.engine.pg import postgres
from recovery_console.engine.timing import span
from recovery_console.errors import DatabaseError

if TYPE_CHECKING:
    import psycopg

    from recovery_console.engine.archive.pgarchive import Archive

LOADING_POLL = 0.02, 0.25  # seconds between looks at whether pg_restore still copies data: first, at most
STOP_WAIT = 10.0  # seconds `EarlyCount.stop` waits for its connection to close
# pg_restore's sessions on the database still loading data: a COPY running
COPYING_SQL = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
               "AND state = 'active' AND query ~* '^\\s*COPY\\s'")

Table = tuple[str, str]  # (schema, name)


@dataclass(frozen=True)
class TableCheck:
    """One table of the restored copy against the archive: rows expected (None: no data in the archive)
    and rows found (None: the table is missing)."""

    schema: str
    table: str
    expected_rows: int | None
    restored_rows: int | None

    @property
    def ok(self) -> bool:
        return self.restored_rows is not None and self.expected_rows in (None, self.restored_rows)


def expected_rows(archive: Archive, row_counts: dict[int, int]) -> dict[Table, int | None]:
    """Every table the archive creates, in its order, with the rows its data block holds (None: no data)."""
    data = {(e.namespace, e.tag): row_counts.get(e.dump_id) for e in archive.toc if e.desc == "TABLE DATA"}
    return {(e.namespace, e.tag): data.get((e.namespace, e.tag)) for e in archive.toc if e.desc == "TABLE"}


def present(conn: psycopg.Connection[tuple[Any, ...]], table: Table) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'"{table[0]}"."{table[1]}"',)).fetchone()
    return bool(row and row[0] is not None)


def count_rows(conn: psycopg.Connection[tuple[Any, ...]], table: Table) -> int:
    from psycopg import sql

    return int(postgres.scalar(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table))))


def check_tables(conn: psycopg.Connection[tuple[Any, ...]], expected: dict[Table, int | None],
                 confirmed: dict[Table, int]) -> list[TableCheck]:
    """Each table's presence, and its rows: those `confirmed` early as the archive's, the others counted now."""
    import psycopg

    checks = []
    for table, rows in expected.items():
        try:
            restored = None
            if present(conn, table):
                restored = confirmed[table] if table in confirmed else count_rows(conn, table)
        except psycopg.Error as exc:
            raise DatabaseError(f"Counting the rows of {table[0]}.{table[1]} in the restored copy failed: "
                                f"{str(exc).strip()}") from None
        checks.append(TableCheck(table[0], table[1], rows, restored))
    return checks


class EarlyCount:
    """Counts the tables on its own thread and connection once pg_restore has copied the data (see the module
    docstring); `stop()` ends it and returns the tables whose count equals the archive's. Best effort: a
    failure here only leaves the counting to the check after pg_restore."""

    @classmethod
    def start(cls, url: str, password: str | None, database: str,
              expected: dict[Table, int | None]) -> EarlyCount | None:
        """Start counting, or None when no table has rows to count."""
        return cls(url, password, database, expected) if any(n is not None for n in expected.values()) else None

    def __init__(self, url: str, password: str | None, database: str, expected: dict[Table, int | None]) -> None:
        self._args = url, password, database
        self._expected = expected
        self._stopping = threading.Event()
        self._restored = threading.Event()  # pg_restore has exited: a COPY still running is not its
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._confirmed: dict[Table, int] = {}
        self._thread = threading.Thread(target=self._run, name="rc-early-count", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        url, password, database = self._args
        try:
            with postgres.connect(url, password, dbname=database) as conn:
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self._conn = conn
                pause, longest = LOADING_POLL  # a server far behind is asked less often: each look costs it CPU
                while (not self._restored.is_set() and postgres.scalar(conn, COPYING_SQL)
                       and not self._stopping.wait(pause)):
                    pause = min(pause * 1.5, longest)
                with span("row-count-early"):
                    for table, rows in self._expected.items():
                        if self._stopping.is_set():
                            return
                        if rows is not None and present(conn, table) and count_rows(conn, table) == rows:
                            self._confirmed[table] = rows
        except Exception:  # noqa: BLE001,S110 - cancelled by stop(), or the server: the check after pg_restore counts
            pass
        finally:
            with self._lock:
                self._conn = None

    def finish(self) -> dict[Table, int]:
        """Once pg_restore has exited: let the counting end (what it counts now is final) and return the
        tables whose count equals the archive's."""
        self._restored.set()
        self._thread.join()
        return dict(self._confirmed)

    def stop(self) -> None:
        """End the counting at once (a count under way is cancelled) and wait for the connection to close."""
        with self._lock:
            self._stopping.set()
            if self._conn is not None:
                with suppress(Exception):  # the connection is going anyway
                    self._conn.cancel()
        self._thread.join(STOP_WAIT)
