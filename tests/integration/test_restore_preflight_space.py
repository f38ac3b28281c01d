"""The restore pre-flight's free-space estimate: from the source database's size recorded at backup time, else
from the archive's uncompressed size (read from the backup's sealed end record), never from the compressed file;
and in human-readable sizes."""

from __future__ import annotations

import uuid

import pytest

from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.restore import Restorer
from recovery_console.formatting import format_bytes
from recovery_console.models.profile import ConnectionMode
from tests.fixtures.console import FAST_ITERATIONS, SECRET

pytestmark = pytest.mark.integration
SPACE = "free space on the server"


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def profile(console, local_target, pg15, database) -> str:
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


def space_check(console, profile, ref, **kwargs):
    plan = Restorer(console).preflight(profile, ref, SECRET, **kwargs)
    return next(c for c in plan.checks if c.name == SPACE)


def test_a_live_backup_records_its_database_size_and_the_estimate_goes_by_it(console, profile, pg15, database):
    size = int(pg15.psql(f"SELECT pg_database_size('{database}')"))
    record = backup_database(console, profile, secret=SECRET)
    recorded = record.metadata.database_size
    assert recorded is not None and abs(recorded - size) < size // 10
    assert record.size < recorded // 3  # the compressed file says little about the room a restore needs
    for kwargs in ({}, {"new_database": f"copy_{uuid.uuid4().hex[:6]}"}):
        check = space_check(console, profile, console.locate(record.short_id), **kwargs)
        assert f"about {format_bytes(recorded)} needed" in check.detail, check
        assert "source database's size when it was backed up" in check.detail
        assert " bytes" not in check.detail and f"{recorded:,}" not in check.detail


def test_an_older_backup_without_a_recorded_size_goes_by_its_archive(console, profile, pg15, database, tmp_path):
    dump = tmp_path / "app.dump"
    pg15.run("pg_dump", "-Fc", "-Z0", "-f", str(dump), *pg15.conn_args(database))
    with dump.open("rb") as source:
        record = console.create_backup(source, console.profiles.store.get(profile).target or "", SECRET,
                                       compression="zstd", iterations=FAST_ITERATIONS)
    assert record.metadata is not None and record.metadata.database_size is None
    archive = dump.stat().st_size
    assert record.size < archive // 3
    ref = console.locate(record.short_id)
    first = space_check(console, profile, ref, new_database=f"copy_{uuid.uuid4().hex[:6]}")  # verifies in full
    again = space_check(console, profile, console.locate(record.short_id),  # full verify on record: the tail read
                        new_database=f"copy_{uuid.uuid4().hex[:6]}")
    for check in (first, again):
        assert f"about {format_bytes(archive)} needed" in check.detail, check
        assert "the archive's uncompressed size" in check.detail
