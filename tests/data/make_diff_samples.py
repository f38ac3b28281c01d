"""Regenerates diff-a.dump and diff-b.dump: a PostgreSQL 17 database dumped, changed as tests/fixtures/diff_db.py
says, and dumped again (A with gzip, B with lz4), for the diff's unit tests.

    python tests/data/make_diff_samples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.fixtures.diff_db import BEFORE, CHANGES  # noqa: E402
from tests.fixtures.postgres import PgServerFactory  # noqa: E402


def main() -> None:
    factory = PgServerFactory()
    try:
        server = factory.new(17)
        server.createdb("diffdb")
        server.psql(BEFORE, db="diffdb")
        server.run("pg_dump", "-Fc", "--compress=gzip", "-f", str(HERE / "diff-a.dump"), *server.conn_args("diffdb"))
        server.psql(CHANGES, db="diffdb")
        server.run("pg_dump", "-Fc", "--compress=lz4", "-f", str(HERE / "diff-b.dump"), *server.conn_args("diffdb"))
    finally:
        factory.close()


if __name__ == "__main__":
    main()
