"""The restored copy's row check against a real PostgreSQL 15: the server's counters confirm a table only when
exactly the archive's rows went in and all of them are live; every other table is counted with count(*)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from recovery_console.engine import restore_check
from recovery_console.engine.restore_check import check_tables

pytestmark = [pytest.mark.integration]


@pytest.fixture
def database(pg15) -> str:
    name = f"rowcheck_{uuid.uuid4().hex[:8]}"
    pg15.createdb(name)
    pg15.psql("CREATE TABLE items (id int); CREATE TABLE notes (id int); CREATE TABLE edited (id int); "
              "CREATE TABLE aborted (id int); CREATE TABLE retried (id int)", db=name)
    with psycopg.connect(pg15.dsn(name)) as loader:  # as pg_restore loads: one COPY per table, each committed
        for table, rows in (("items", 1000), ("notes", 3), ("edited", 10), ("retried", 100)):
            with loader.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
                copy.write(b"".join(b"%d\n" % i for i in range(rows)))
            loader.commit()
        for table in ("aborted", "retried"):  # a COPY that went in whole, then rolled back
            with loader.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
                copy.write(b"".join(b"%d\n" % i for i in range(100)))
            loader.rollback()
        loader.execute("DELETE FROM edited WHERE id = 0")
        loader.commit()
    return name


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables check_tables counted with count(*)."""
    seen: list[str] = []
    real = restore_check.count_rows

    def count_rows(conn, table):
        seen.append(table[1])
        return real(conn, table)

    monkeypatch.setattr(restore_check, "count_rows", count_rows)
    return seen


def test_counters_confirm_a_table_only_when_its_rows_all_went_in_and_stayed(pg15, database, counted) -> None:
    expected: dict[tuple[str, str], int | None] = {
        ("public", "items"): 1000, ("public", "notes"): 5, ("public", "edited"): 9, ("public", "aborted"): 100,
        ("public", "retried"): 100, ("public", "gone"): 7}
    with psycopg.connect(pg15.dsn(database), autocommit=True) as conn:
        checks = {c.table: c for c in check_tables(conn, expected)}
    assert checks["items"].ok and checks["items"].restored_rows == 1000
    assert not checks["notes"].ok and checks["notes"].restored_rows == 3
    assert checks["edited"].ok and checks["edited"].restored_rows == 9  # a row deleted: counted, not trusted
    assert not checks["aborted"].ok and checks["aborted"].restored_rows == 0  # 100 inserted, none committed
    assert checks["retried"].ok and checks["retried"].restored_rows == 100  # 200 inserted, 100 dead: counted
    assert not checks["gone"].ok and checks["gone"].restored_rows is None
    assert sorted(counted) == ["aborted", "edited", "notes", "retried"], "items was counted though confirmed"


def test_without_statistics_every_table_is_counted(pg15, database, counted, monkeypatch) -> None:
    monkeypatch.setattr(restore_check, "COUNTERS_SQL", "SELECT * FROM no_such_view")
    with psycopg.connect(pg15.dsn(database), autocommit=True) as conn:
        checks = check_tables(conn, {("public", "items"): 1000})
    assert [(c.table, c.restored_rows, c.ok) for c in checks] == [("items", 1000, True)]
    assert counted == ["items"]
