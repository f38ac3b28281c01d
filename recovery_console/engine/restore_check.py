"""The restored copy against the archive: every table present, with as many rows as the archive holds.

Once pg_restore has exited, the server's own counters say how many rows went into each table: in
pg_stat_user_tables, flushed as pg_restore's sessions end. A table into which exactly the archive's rows
were inserted, all of them live and none since updated, deleted or dead, holds exactly those rows: only
pg_restore wrote to the new database, and a COPY commits all its rows or none. Every other table is
counted with count(*): counters not flushed yet (looked at twice), statistics turned off, an ANALYZE's
estimate, or a real difference. Counting a large table while pg_restore built its indexes, as before, took
the cores those builds needed (pgbench scale 100: a 3 s count; the restore 1.5 s slower than plain).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recovery_console.engine.pg import postgres
from recovery_console.errors import DatabaseError

if TYPE_CHECKING:
    import psycopg

    from recovery_console.engine.archive.pgarchive import Archive

COUNTERS_SQL = ("SELECT schemaname, relname, n_tup_ins, n_live_tup, n_dead_tup, n_tup_upd, n_tup_del "
                "FROM pg_stat_user_tables")
COUNTERS_AGAIN = 0.1
"""Seconds before the counters are read a second time: a session that has just ended flushes its own a
moment after it left pg_stat_activity (and PostgreSQL 14 sends them to its collector by UDP)."""

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


def committed_rows(conn: psycopg.Connection[tuple[Any, ...]]) -> dict[Table, int]:
    """Tables whose counters show rows inserted, every one of them live and none updated, deleted or dead."""
    return {(str(schema), str(name)): int(inserted)
            for schema, name, inserted, live, dead, updated, deleted in conn.execute(COUNTERS_SQL).fetchall()
            if inserted == live and not dead and not updated and not deleted}


def check_tables(conn: psycopg.Connection[tuple[Any, ...]], expected: dict[Table, int | None]) -> list[TableCheck]:
    """Each table's presence, and its rows: the server's counters where they equal the archive's, else count(*)."""
    import psycopg

    try:
        counters = committed_rows(conn)
        if any(rows is not None and counters.get(table) != rows for table, rows in expected.items()):
            time.sleep(COUNTERS_AGAIN)
            counters = committed_rows(conn)
    except psycopg.Error:
        counters = {}  # no statistics to read: every table is counted
    checks = []
    for table, rows in expected.items():
        try:
            restored = None
            if present(conn, table):
                restored = rows if rows is not None and counters.get(table) == rows else count_rows(conn, table)
        except psycopg.Error as exc:
            raise DatabaseError(f"Counting the rows of {table[0]}.{table[1]} in the restored copy failed: "
                                f"{str(exc).strip()}") from None
        checks.append(TableCheck(table[0], table[1], rows, restored))
    return checks
