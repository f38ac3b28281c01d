"""Export, search and diff of an archive's table, against pg_restore doing the same work.

    python bench/forensics.py [--rows 2000000] [--major 17] [--compressions none,gzip,zstd,lz4] [--diff-only]

Starts its own PostgreSQL on 127.0.0.1, fills `events` (id, inet, text, jsonb: every row needs CSV
quoting) with one planted IOC, dumps it with each compression, and prints per archive the wall
time of `recovery-console export --table events` (CSV, to a file) against `pg_restore --data-only
--table events -f -` (which only copies COPY text), and of `recovery-console search` for the IOC
against `pg_restore --data-only -f - | grep -c`. Both console commands run as fresh processes.
Targets (issue 17): export ≤ 2.0×, search ≤ 1.0×.

Diff: a second dump after 1 % of the rows changed (updates, deletes and inserts, a third each),
`recovery-console diff A B` (the summary: counts per table) against two `pg_restore --data-only -f
/dev/null` runs, with the console's peak RSS. Targets: ≤ 3.0×, ≤ 300 MB.
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


def timed_rss(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of one command, measured by a fresh Python that only waits for it."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *command], env=env, check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


CHANGE_ONE_PERCENT = """
UPDATE events SET note = 'changed ' || id WHERE id % 300 = 1;
DELETE FROM events WHERE id % 300 = 2;
INSERT INTO events SELECT g, '192.0.2.1', 'inserted ' || g, '{{}}' FROM generate_series({start}, {end}) g;
"""


def changed_copy(server, rows: int) -> None:
    """Database bench_b: bench with 1 % of its rows changed; both with a primary key, so rows are matched by it."""
    server.psql("ALTER TABLE events ADD PRIMARY KEY (id);", db="bench")
    server.psql("CREATE DATABASE bench_b TEMPLATE bench;")
    server.psql(CHANGE_ONE_PERCENT.format(start=rows + 1, end=rows + rows // 300), db="bench_b")


def bench_diff(server, work: Path, compression: str, env: dict[str, str]) -> None:
    """Dump bench and bench_b; time diff against two pg_restore runs."""
    level = "0" if compression == "none" else compression
    a, b = work / f"diff-a-{compression}.dump", work / f"diff-b-{compression}.dump"
    server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(a), *server.conn_args("bench"))
    server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(b), *server.conn_args("bench_b"))
    restore = [str(server.tool("pg_restore")), "--data-only", "-f", "/dev/null"]
    plain = timed_rss([*restore, str(a)], env)[0] + timed_rss([*restore, str(b)], env)[0]
    ours, rss = timed_rss([sys.executable, "-m", "recovery_console.cli.main", "--quiet", "diff", str(a), str(b)], env)
    print(f"{compression:>5} diff ({a.stat().st_size / 2**20:6.1f} + {b.stat().st_size / 2**20:6.1f} MiB): "
          f"{ours:6.2f}s vs 2 × pg_restore {plain:5.2f}s = {ours / plain:5.2f}x; peak RSS {rss:5.0f} MiB", flush=True)
    os.remove(a)
    os.remove(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--compressions", default="none,gzip,zstd,lz4")
    parser.add_argument("--diff-only", action="store_true", help="only the diff bench")
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
        changed_copy(server, args.rows)
        for compression in args.compressions.split(","):
            bench_diff(server, work, compression, env)
            if args.diff_only:
                continue
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
