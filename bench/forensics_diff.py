"""Diff of two archives of one table differing in 1 % of rows, against two pg_restore runs doing the reading.

    python bench/forensics_diff.py [--rows 2000000] [--major 17] [--compressions gzip,none] [--format summary]
                                   [--keep DIR]

Starts its own PostgreSQL on 127.0.0.1, fills `events` (id bigint primary key, inet, text, jsonb),
copies the database and changes 1 % of the copy's rows (a third updated, a third deleted, as many
inserted), dumps both with each compression, and prints the wall time of `recovery-console diff A B`
(a fresh process; the summary, or the rows with --format jsonl) against `pg_restore --data-only -f
/dev/null` of A plus the same of B, with the console's peak RSS. Targets (issue 17): ≤ 3.0×, ≤ 300 MB.
Each ratio is given for wall time and for CPU time (user + system, steadier on a loaded machine), with
the load average. --keep DIR keeps the dumps in DIR and reuses them on the next run (no server then).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import PgServerFactory, tool_env  # noqa: E402

CHANGE_ONE_PERCENT = """
UPDATE events SET note = 'changed ' || id WHERE id % 300 = 1;
DELETE FROM events WHERE id % 300 = 2;
INSERT INTO events SELECT g, '192.0.2.1', 'inserted ' || g, '{{}}' FROM generate_series({start}, {end}) g;
"""


@dataclass
class Run:
    wall: float
    cpu: float
    rss: float  # MiB

    def __add__(self, other: Run) -> Run:
        return Run(self.wall + other.wall, self.cpu + other.cpu, max(self.rss, other.rss))


def timed_rss(command: list[str], env: dict[str, str]) -> Run:
    """Wall time, CPU time and peak RSS (MiB) of one command, measured by a fresh Python that only waits for it."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *command], env=env, check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout.split()
    return Run(float(out[0]), float(out[1]), int(out[2]) / 1024)


def make_dumps(args: argparse.Namespace, factory: PgServerFactory, work: Path) -> Path:
    """Both databases dumped with each compression into `work`; the folder of pg_restore."""
    server = factory.start(args.major)
    server.createdb("bench")
    server.psql(f"""CREATE TABLE events (id bigint PRIMARY KEY, host inet, note text, payload jsonb);
        INSERT INTO events SELECT g, ('10.0.' || (g % 250) || '.' || (g % 200))::inet,
            'event ' || g || ' ' || md5(g::text), jsonb_build_object('g', g, 's', repeat('x', g % 40))
            FROM generate_series(1, {args.rows}) g;""", db="bench")
    server.psql("CREATE DATABASE bench_b TEMPLATE bench;")
    server.psql(CHANGE_ONE_PERCENT.format(start=args.rows + 1, end=args.rows + args.rows // 300), db="bench_b")
    for compression in args.compressions.split(","):
        level = "0" if compression == "none" else compression
        for side, db in (("a", "bench"), ("b", "bench_b")):
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(work / f"{side}-{compression}.dump"),
                       *server.conn_args(db))
    return server.bin_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--compressions", default="gzip,none")
    parser.add_argument("--format", choices=("summary", "jsonl"), default="summary")
    parser.add_argument("--keep", type=Path, help="keep the dumps in this folder, and reuse those it holds")
    args = parser.parse_args()
    factory = PgServerFactory()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-diff-"))
    dumps = args.keep or work
    dumps.mkdir(parents=True, exist_ok=True)
    env = {**tool_env(), "RECOVERY_CONSOLE_HOME": str(work / "home")}
    try:
        compressions = args.compressions.split(",")
        wanted = [dumps / f"{side}-{c}.dump" for c in compressions for side in "ab"]
        bin_dir = factory.bin_dir(args.major) if all(p.exists() for p in wanted) else make_dumps(args, factory, dumps)
        for compression in compressions:
            a, b = dumps / f"a-{compression}.dump", dumps / f"b-{compression}.dump"
            restore = [str(bin_dir / "pg_restore"), "--data-only", "-f", "/dev/null"]
            plain = timed_rss([*restore, str(a)], env) + timed_rss([*restore, str(b)], env)
            rows = ["--format", "jsonl", "-o", str(work / "rows.jsonl"), "--force"] if args.format == "jsonl" else []
            ours = timed_rss([sys.executable, "-m", "recovery_console.cli.main", "--quiet", "diff", str(a), str(b),
                              *rows], env)
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"{compression:>5} diff {args.format} ({a.stat().st_size / 2**20:6.1f} + "
                  f"{b.stat().st_size / 2**20:6.1f} MiB): wall {ours.wall:6.2f}s vs 2 × pg_restore {plain.wall:5.2f}s "
                  f"= {ours.wall / plain.wall:5.2f}x; CPU {ours.cpu:6.2f}s vs {plain.cpu:5.2f}s = "
                  f"{ours.cpu / plain.cpu:5.2f}x; peak RSS {ours.rss:5.0f} MiB; load {load}", flush=True)
            if args.keep is None:
                os.remove(a)
                os.remove(b)
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
