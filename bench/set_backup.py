"""A recovery set of two databases on one server against `pg_dump -Fc` of both one after the other (#18).

    python bench/set_backup.py [--pgbench-scale 10] [--rounds 2]

One PostgreSQL 15, two pgbench databases of the same scale. Alternates, after one untimed run of
each: plain (`pg_dump -Fc -f FILE` of A, then of B), the set with members written two at a time
(the default) and one at a time. Prints wall and CPU time (this process and its children: pg_dump,
the console's threads) with the ratios to plain, and the load average before and after. Target
(issue #18): the set <= 0.6 x plain in wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.sets.set_backup import backup_set  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.engine.state.profile_members import ProfileMembers  # noqa: E402
from recovery_console.models.profile import ConnectionMode  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402
from tests.fixtures.postgres import PgServerFactory  # noqa: E402

SECRET = "bench secret"


def cpu_now() -> float:
    own, kids = os.times(), os.times()
    return own.user + own.system + kids.children_user + kids.children_system


def timed(action: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_now()
    action()
    return time.perf_counter() - wall, cpu_now() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgbench-scale", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-set-"))
    factory = PgServerFactory()
    try:
        pg = factory.start(15)
        for name in ("bench_a", "bench_b"):
            pg.createdb(name)
            pg.run("pgbench", "-i", "-s", str(args.pgbench_scale), "-q", *pg.conn_args(name)[:-2], name)
        console = Console(AppPaths(config_dir=work / "config", data_dir=work / "data"))
        (work / "target").mkdir()
        console.add_target(TargetConfig(name="t", kind="local", options={"path": str(work / "target")}))
        console.profiles.create("bench", pg.dsn("bench_a"), target="t")
        console.profiles.set_mode("bench", ConnectionMode.DIRECT, acknowledge_direct=True)
        ProfileMembers(console.profiles).add_database("bench", "b", pg.dsn("bench_b"), mode=ConnectionMode.DIRECT,
                                                      acknowledge_direct=True)
        load = os.getloadavg()[0]
        print(f"PostgreSQL {pg.version}; {os.cpu_count()} CPUs, load {load:.2f}; pgbench scale {args.pgbench_scale} "
              f"x 2 databases", flush=True)

        def plain() -> None:
            for name in ("bench_a", "bench_b"):
                pg.run("pg_dump", "-Fc", "-f", str(work / f"{name}.dump"), *pg.conn_args(name))

        runs: dict[str, list[tuple[float, float]]] = {"plain": [], "set x2": [], "set x1": []}
        actions = {"plain": plain, "set x2": lambda: backup_set(console, "bench", secret=SECRET),
                   "set x1": lambda: backup_set(console, "bench", secret=SECRET, parallel=1)}
        for warm in range(args.rounds + 1):
            for label, action in actions.items():
                result = timed(action)
                if warm:
                    runs[label].append(result)
        base_wall = statistics.median(w for w, _ in runs["plain"])
        base_cpu = statistics.median(c for _, c in runs["plain"])
        for label, results in runs.items():
            wall = statistics.median(w for w, _ in results)
            cpu = statistics.median(c for _, c in results)
            print(f"{label:<7} wall {wall:6.2f} s ({wall / base_wall:.2f} x plain)  cpu {cpu:6.2f} s "
                  f"({cpu / base_cpu:.2f} x plain)")
        wall = statistics.median(w for w, _ in runs["set x2"])
        print(f"target set <= 0.6 x plain: {'PASS' if wall <= 0.6 * base_wall else 'FAIL'}; load now "
              f"{os.getloadavg()[0]:.2f}")
        console.close()
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
