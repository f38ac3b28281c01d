"""The row count taken while pg_restore builds indexes, against a real PostgreSQL 15: it waits for the data's
COPY to end, trusts only counts equal to the archive's, and lets go of the database at once when stopped."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from recovery_console.engine.restore_check import EarlyCount, check_tables

pytestmark = [pytest.mark.integration]


@pytest.fixture
def database(pg15) -> str:
    name = f"early_{uuid.uuid4().hex[:8]}"
    pg15.createdb(name)
    pg15.psql("CREATE TABLE items (id int); INSERT INTO items SELECT generate_series(1, 1000); "
              "CREATE TABLE notes (id int); INSERT INTO notes VALUES (1), (2), (3)", db=name)
    return name


def _our_sessions(pg15, database: str) -> int:
    return int(pg15.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
                         "AND application_name = 'recovery-console'"))


def test_only_counts_equal_to_the_archive_are_trusted_and_the_rest_is_counted_again(pg15, database) -> None:
    expected: dict[tuple[str, str], int | None] = {("public", "items"): 1000, ("public", "notes"): 5,
                                                   ("public", "gone"): 7}
    counting = EarlyCount.start(pg15.dsn(database), None, database, expected)
    assert counting is not None
    confirmed = counting.finish()
    assert confirmed == {("public", "items"): 1000}
    with psycopg.connect(pg15.dsn(database), autocommit=True) as conn:
        checks = {c.table: c for c in check_tables(conn, expected, confirmed)}
    assert checks["items"].ok and checks["items"].restored_rows == 1000
    assert not checks["notes"].ok and checks["notes"].restored_rows == 3  # recounted, not taken from early
    assert not checks["gone"].ok and checks["gone"].restored_rows is None


def test_nothing_to_count_starts_nothing(pg15, database) -> None:
    assert EarlyCount.start(pg15.dsn(database), None, database, {("public", "items"): None}) is None


def test_the_count_waits_for_a_running_copy_to_end(pg15, database) -> None:
    """Rows of a COPY not yet committed are invisible: counting then would only find a mismatch."""
    with psycopg.connect(pg15.dsn(database)) as loader:
        with loader.cursor() as cur, cur.copy("COPY items FROM STDIN") as copy:
            copy.write(b"".join(b"%d\n" % i for i in range(500)))
            counting = EarlyCount.start(pg15.dsn(database), None, database, {("public", "items"): 1500})
            assert counting is not None
            time.sleep(1.0)
            assert int(pg15.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND "
                                 "query ILIKE 'SELECT count(*) FROM \"public\".\"items\"%'")) == 0
        loader.commit()
    assert counting.finish() == {("public", "items"): 1500}


def test_stop_cancels_a_count_and_leaves_the_database(pg15, database) -> None:
    """A failed restore drops its scratch database: the counting connection must be gone by then."""
    with psycopg.connect(pg15.dsn(database)) as holder:
        holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")  # the count waits behind this
        counting = EarlyCount.start(pg15.dsn(database), None, database, {("public", "items"): 1000})
        assert counting is not None
        deadline = time.monotonic() + 30
        while not int(pg15.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
                                "AND wait_event_type = 'Lock'")):
            assert time.monotonic() < deadline, "the count never reached the lock"
            time.sleep(0.05)
        stopped = threading.Thread(target=counting.stop)
        started = time.monotonic()
        stopped.start()
        stopped.join(10)
        assert not stopped.is_alive() and time.monotonic() - started < 5
        assert _our_sessions(pg15, database) == 0
        holder.rollback()
    pg15.dropdb(database)
    assert database not in pg15.databases()


def test_once_pg_restore_has_exited_a_copy_of_someone_else_is_not_waited_for(pg15, database) -> None:
    """Someone loading into the new database while it is checked must not hold the restore up."""
    with psycopg.connect(pg15.dsn(database)) as loader:
        with loader.cursor() as cur, cur.copy("COPY notes FROM STDIN") as copy:
            copy.write(b"4\n")
            counting = EarlyCount.start(pg15.dsn(database), None, database, {("public", "items"): 1000})
            assert counting is not None
            finished = threading.Thread(target=counting.finish)
            finished.start()
            finished.join(10)
            assert not finished.is_alive()
        loader.rollback()
