"""Export and search of one table from an archive, against pg_restore doing the same work.

    python bench/forensics.py [--rows 2000000] [--major 17] [--compressions none,gzip,zstd,lz4]

Starts its own PostgreSQL on 127.0.0.1, fills `events` (id, inet, text, jsonb: every row needs CSV
quoting) with one planted IOC, dumps it with each compression, and prints per archive the wall
time of `recovery-console export --table events` (CSV, to a file) against `pg_restore --data-only
--table events -f -` (which only copies COPY text), and of `recovery-console search` for the IOC
against `pg_restore --data-only -f - | grep -c`. Both console commands run as fresh processes.
Targets (issue 17): export ≤ 2.0×, search ≤ 1.0×.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import PgServerFactory, tool_env  # noqa: E402

IOC = "203.0.113.77"


def timed(command: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--compressions", default="none,gzip,zstd,lz4")
    args = parser.parse_args()
    factory = PgServerFactory()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-forensics-"))
    env = {**tool_env(), "RECOVERY_CONSOLE_HOME": str(work / "home")}
    console = f"{sys.executable} -m recovery_console.cli.main --quiet"
    try:
        server = factory.start(args.major)
        server.createdb("bench")
        server.psql(f"""CREATE TABLE events (id bigint, host inet, note text, payload jsonb);
            INSERT INTO events SELECT g, ('10.0.' || (g % 250) || '.' || (g % 200))::inet,
                CASE WHEN g = {args.rows // 3} THEN 'login from {IOC}' ELSE 'event ' || g || ' ' || md5(g::text) END,
                jsonb_build_object('g', g, 's', repeat('x', g % 40)) FROM generate_series(1, {args.rows}) g;""",
                    db="bench")
        for compression in args.compressions.split(","):
            dump = work / f"events-{compression}.dump"
            level = "0" if compression == "none" else compression
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(dump), *server.conn_args("bench"))
            restore = f"{server.tool('pg_restore')} --data-only"
            plain_export = timed(f"{restore} --table events -f - {dump}", env)
            ours_export = timed(f"{console} export {dump} --table events -o {work / 'out.csv'} --force", env)
            plain_search = timed(f"{restore} -f - {dump} | grep -c {IOC}", env)
            ours_search = timed(f"{console} search {dump} {IOC}", env)
            print(f"{compression:>5} ({dump.stat().st_size / 2**20:6.1f} MiB): "
                  f"export {ours_export:6.2f}s vs pg_restore {plain_export:5.2f}s = "
                  f"{ours_export / plain_export:5.2f}x; "
                  f"search {ours_search:6.2f}s vs pg_restore|grep {plain_search:5.2f}s = "
                  f"{ours_search / plain_search:5.2f}x", flush=True)
            os.remove(dump)
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
