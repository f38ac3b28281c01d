"""The console's own connections are named in pg_stat_activity, directly and through PgBouncer."""

from __future__ import annotations

import pytest

from recovery_console.engine.pg import postgres

pytestmark = pytest.mark.integration


def own_name(url: str) -> str:
    with postgres.connect(url) as conn:
        row = conn.execute("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None
    return row[0]


def test_connections_are_named_recovery_console(pg15, pgbouncer):
    assert own_name(pg15.dsn()) == "recovery-console"
    assert own_name(pgbouncer.dsn("postgres")) == "recovery-console"


def test_a_name_in_the_url_is_kept(pg15):
    assert own_name(pg15.dsn() + "?application_name=nightly") == "nightly"
