"""One database, one lock: every spelling of this machine's server names the same lock."""

from __future__ import annotations

import pytest

from recovery_console.engine.state.locks import database_identity

LOCAL = "localhost:5433/prod"


@pytest.mark.parametrize("url", [
    "postgresql://app@localhost:5433/prod",
    "postgresql://app@127.0.0.1:5433/prod",
    "postgresql://app@[::1]:5433/prod",
    "postgresql://app@LOCALHOST:5433/prod",
    "postgresql:///prod?host=/var/run/postgresql&port=5433",
    "host=/tmp port=5433 dbname=prod",
    "port=5433 dbname=prod",
    "hostaddr=127.0.0.1 port=5433 dbname=prod",
])
def test_local_spellings_share_one_identity(url: str) -> None:
    assert database_identity(url) == LOCAL


def test_other_hosts_ports_and_databases_stay_apart() -> None:
    identities = {database_identity(url) for url in (
        "postgresql://app@localhost:5433/prod", "postgresql://app@db.example:5433/prod",
        "postgresql://app@localhost:5432/prod", "postgresql://app@localhost:5433/other")}
    assert len(identities) == 4
