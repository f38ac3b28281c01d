"""A recovery set of two databases on one server against `pg_dump -Fc` of both one after the other (#18).

    python bench/set_backup.py [--realistic-rows 1000000 | --pgbench-scale N] [--rounds 2]

One PostgreSQL 15, two databases of the same kind: bench/pg.py's realistic table (timestamps, accounts,
amounts, hex notes, jsonb) of --realistic-rows rows each (the default), or pgbench at --pgbench-scale.
Alternates, after one untimed run of each: plain (`pg_dump -Fc -f FILE` of A, then of B), the set with
members written two at a time (the default) and one at a time, two single backups (`backup_database`
of A, then of B: the path `backup create` takes for a profile without members), and the floor: both
`pg_dump -Fc -Z0` at once with no compression, encryption or hashing, the least any backup made by
pg_dump can take on this machine. Prints wall and CPU time (this process and its children: pg_dump,
the console's threads; and the server's, read from the postmaster's reaped children, which lag by up to
a run) with the ratios to plain, and the load average. Target (issue #18): the set <= 0.6 x plain in
wall time.

pg_dump's gzip is most of plain's time on realistic rows, so the set's lead is wide there. On pgbench's
blank-padded rows gzip is cheap: the server's COPY and pg_dump itself are most of the work, and on two
cores the floor alone is about 0.6 x plain. Each file of a set is an ordinary backup with its own salt
(FORMAT.md: a salt is never reused), so a set of two databases also derives three keys (two members, the
manifest), each PBKDF2 of 600,000 iterations (~0.36 s of CPU here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg import REALISTIC  # noqa: E402
from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.live_backup import backup_database  # noqa: E402
from recovery_console.engine.sets.set_backup import backup_set  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.engine.state.profile_members import ProfileMembers  # noqa: E402
from recovery_console.models.profile import ConnectionMode  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402
from tests.fixtures.postgres import PgServerFactory, tool_env  # noqa: E402

SECRET = "bench secret"


def cpu_now() -> float:
    own = os.times()
    return own.user + own.system + own.children_user + own.children_system


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the postmaster's reaped children (the backends that served the dumps); 0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def timed(action: Callable[[], object], pid: int | None) -> tuple[float, float, float]:
    wall, cpu, server = time.perf_counter(), cpu_now(), server_cpu(pid)
    action()
    return time.perf_counter() - wall, cpu_now() - cpu, server_cpu(pid) - server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgbench-scale", type=int, default=0, help="use pgbench at this scale instead")
    parser.add_argument("--realistic-rows", type=int, default=1_000_000,
                        help="rows of bench/pg.py's realistic table in each database (the default data)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-set-"))
    factory = PgServerFactory()
    try:
        pg = factory.start(15)
        for name in ("bench_a", "bench_b"):
            pg.createdb(name)
            if not args.pgbench_scale:
                pg.psql(REALISTIC % {"rows": args.realistic_rows}, db=name)
            else:
                pg.run("pgbench", "-i", "-s", str(args.pgbench_scale), "-q", *pg.conn_args(name)[:-2], name)
        pg.psql("CHECKPOINT")
        console = Console(AppPaths(config_dir=work / "config", data_dir=work / "data"))
        (work / "target").mkdir()
        console.add_target(TargetConfig(name="t", kind="local", options={"path": str(work / "target")}))
        console.profiles.create("bench", pg.dsn("bench_a"), target="t")
        console.profiles.set_mode("bench", ConnectionMode.DIRECT, acknowledge_direct=True)
        ProfileMembers(console.profiles).add_database("bench", "b", pg.dsn("bench_b"), mode=ConnectionMode.DIRECT,
                                                      acknowledge_direct=True)
        for name in ("bench_a", "bench_b"):
            console.profiles.create(name, pg.dsn(name), target="t")
            console.profiles.set_mode(name, ConnectionMode.DIRECT, acknowledge_direct=True)
        load = os.getloadavg()[0]
        data = (f"realistic {args.realistic_rows:,} rows" if not args.pgbench_scale
                else f"pgbench scale {args.pgbench_scale}")
        size = pg.psql("SELECT pg_size_pretty(pg_database_size('bench_a'))")
        print(f"PostgreSQL {pg.version}; {os.cpu_count()} CPUs, load {load:.2f}; {data} ({size}) x 2 databases",
              flush=True)

        def plain() -> None:
            for name in ("bench_a", "bench_b"):
                pg.run("pg_dump", "-Fc", "-f", str(work / f"{name}.dump"), *pg.conn_args(name))

        def floor() -> None:
            """Both databases dumped at once with no compression: what pg_dump and the server alone cost, the least
            any backup built on pg_dump can take here."""
            argv = [str(pg.tool("pg_dump")), "-Fc", "-Z0", "--no-sync", "-f"]
            dumps = [subprocess.Popen([*argv, str(work / f"{name}.raw"), *pg.conn_args(name)], env=tool_env())
                     for name in ("bench_a", "bench_b")]
            if any(dump.wait() for dump in dumps):
                raise SystemExit("pg_dump failed")

        def singles() -> None:
            for name in ("bench_a", "bench_b"):
                backup_database(console, name, secret=SECRET)

        actions = {"plain": plain, "set x2": lambda: backup_set(console, "bench", secret=SECRET),
                   "set x1": lambda: backup_set(console, "bench", secret=SECRET, parallel=1), "2 single": singles,
                   "floor": floor}
        runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in actions}
        loads: list[float] = []
        for warm in range(args.rounds + 1):
            for label, action in actions.items():
                result = timed(action, pg.pid)
                loads.append(os.getloadavg()[0])
                print(f"  {'warm-up' if not warm else f'round {warm}'} {label:<8} wall {result[0]:6.2f} s  cpu "
                      f"{result[1]:6.2f} s  server {result[2]:5.2f} s  load {loads[-1]:.2f}", flush=True)
                if warm:
                    runs[label].append(result)
        base_wall = statistics.median(w for w, _, _ in runs["plain"])
        base_cpu = statistics.median(c for _, c, _ in runs["plain"])
        print(f"medians of {args.rounds} alternating rounds; load {min(loads):.2f}-{max(loads):.2f} (2 shared cores)")
        for label, results in runs.items():
            wall = statistics.median(w for w, _, _ in results)
            cpu = statistics.median(c for _, c, _ in results)
            server = statistics.median(s for _, _, s in results)
            print(f"{label:<8} wall {wall:6.2f} s ({wall / base_wall:.2f} x plain)  cpu {cpu:6.2f} s "
                  f"({cpu / base_cpu:.2f} x plain)  server cpu {server:5.2f} s")
        wall = statistics.median(w for w, _, _ in runs["set x2"])
        print(f"target set <= 0.6 x plain: {'PASS' if wall <= 0.6 * base_wall else 'FAIL'} "
              f"({wall / base_wall:.2f} x); the floor (two pg_dump -Z0 at once, no compression or encryption) is "
              f"{statistics.median(w for w, _, _ in runs['floor']) / base_wall:.2f} x plain")
        console.close()
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
