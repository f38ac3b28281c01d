"""`restore run --jobs N` against `createdb && pg_restore -j N` of the plain `pg_dump -Fc` file (issue 19).

    python bench/restore_jobs.py [--rows 2000000] [--pgbench-scale 0] [--jobs 2] [--rounds 3]

Starts its own PostgreSQL 15 on 127.0.0.1 and a private, unlocked gnome-keyring (the profile's
secret lives there, as the README's `profile create --secret-key-file` leaves it), builds the
realistic database of bench/pg.py (and, with --pgbench-scale, a pgbench one), makes a backup and
puts a full verify on record, then alternates, --rounds times after one untimed run of each:

  plain     createdb X && pg_restore -j N -d X FILE        (FILE: the plain pg_dump -Fc archive)
  console   restore run ID --profile P --new-database X --jobs N --yes   (a fresh process, as the README)

and the same pair on an empty database, whose times are the fixed costs (process start, pre-flight,
key derivation, CREATE DATABASE, the row-count check) apart from the per-byte ones. Every run is
printed with the median of its kind so far; the verdict uses the medians: console <= 1.05 x plain +
1.0 s. The console's phases are its timing spans (engine/timing.py, logged under --debug):
`decrypt-to-file` is the serial decrypt before pg_restore -j can start, `parallel-restore` pg_restore
-j itself.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.keyring import running_secret_service  # noqa: E402
from tests.fixtures.postgres import PgServer, PgServerFactory, tool_env  # noqa: E402

REALISTIC = """
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    happened timestamptz NOT NULL,
    account text NOT NULL,
    amount numeric(14, 2) NOT NULL,
    note text,
    payload jsonb NOT NULL
);
INSERT INTO events (happened, account, amount, note, payload)
SELECT timestamptz '2024-01-01' + g * interval '7 seconds',
       'acct-' || (random() * 50000)::int,
       round((random() * 10000)::numeric, 2),
       md5(random()::text) || ' ' || md5(random()::text),
       jsonb_build_object('ip', md5(random()::text), 'ok', random() > 0.5, 'n', (random() * 1000)::int)
FROM generate_series(1, %(rows)s) g;
CREATE INDEX events_account ON events (account);
"""
SPAN_LINE = re.compile(r"recovery_console\.engine\.timing: span (\S+) ([\d.]+) cpu self=([\d.]+) children=([\d.]+)")
SLOPE, FIXED = 1.05, 1.0


@dataclass
class Run:
    """One measured run: wall seconds; for a console run its own CPU (children excluded) and timing spans."""

    wall: float
    cpu: float | None = None
    spans: dict[str, float] = field(default_factory=dict)


def run_plain(argvs: list[list[str]]) -> Run:
    """Wall time of commands run one after the other (`createdb && pg_restore`)."""
    start = time.monotonic()
    for argv in argvs:
        proc = subprocess.run(argv, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode:
            raise SystemExit(f"{argv[0]} failed: {proc.stderr[-2000:]}")
    return Run(time.monotonic() - start)


def run_console(argv: list[str], env: dict[str, str]) -> Run:
    """One fresh console process: wall, own CPU (the tree's minus its waited-for children's), spans."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        err.seek(0)
        text = err.read()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"console {' '.join(argv[3:7])} failed: {text[-3000:]}")
    spans: dict[str, float] = {}
    children = 0.0
    for name, seconds, _self, kids in SPAN_LINE.findall(text):
        spans[name] = spans.get(name, 0.0) + float(seconds)
        children = max(children, float(kids))
    return Run(wall, usage.ru_utime + usage.ru_stime - children, spans)


def median(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def alternate(label: str, rounds: int, plain: Callable[[], Run],
              ours: Callable[[], Run]) -> tuple[list[Run], list[Run]]:
    """One untimed run of each, then plain and console alternately; each printed with its kind's median so far."""
    plain(), ours()
    plain_runs: list[Run] = []
    our_runs: list[Run] = []
    for i in range(rounds):
        plain_runs.append(plain())
        our_runs.append(ours())
        p, o = plain_runs[-1], our_runs[-1]
        print(f"  {label} round {i + 1}: plain {p.wall:6.2f} s (median {median(plain_runs):6.2f}) | console "
              f"{o.wall:6.2f} s (median {median(our_runs):6.2f}; own CPU {o.cpu:.2f} s) | load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    return plain_runs, our_runs


def phases(runs: list[Run]) -> str:
    """Median seconds of every timing span the console logged."""
    names = list(dict.fromkeys(n for r in runs for n in r.spans))
    return ", ".join(f"{n} {statistics.median(r.spans.get(n, 0.0) for r in runs):.2f}" for n in names)


def verdict(label: str, plain_runs: list[Run], our_runs: list[Run]) -> str:
    p, o = median(plain_runs), median(our_runs)
    limit = SLOPE * p + FIXED
    cpu = statistics.median(r.cpu or 0.0 for r in our_runs)
    return (f"{label}: plain {p:.2f} s | console {o:.2f} s | ratio console/plain {o / p:.3f} (+{o - p:.2f} s) | "
            f"target <= 1.05 x plain + 1.0 s = {limit:.2f} s: {'PASS' if o <= limit else 'FAIL'} | console own CPU "
            f"{cpu:.2f} s\n    console phases (median s): {phases(our_runs)}")


class Session:
    """The server, the console's home and its commands."""

    def __init__(self, pg: PgServer, work: Path, secret: Path) -> None:
        self.pg, self.work, self.secret = pg, work, secret
        self.env = dict(os.environ)
        self.cli = [sys.executable, "-m", "recovery_console.cli.main", "--debug"]

    def setup(self, args: list[str], extra_env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(self.cli[:-1] + args, env={**self.env, **(extra_env or {})}, capture_output=True,
                              text=True)
        if proc.returncode:
            raise SystemExit(f"{' '.join(args[:3])} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def backup(self, db: str) -> tuple[str, Path]:
        """A profile for `db`, its backup with a full verify on record, and the plain pg_dump -Fc file."""
        self.setup(["profile", "create", db, "--database-url-env", "BENCH_URL", "--target", "bench",
                    "--secret-key-file", str(self.secret)], {"BENCH_URL": self.pg.dsn(db)})
        self.setup(["profile", "set-mode", db, "direct", "--not-a-pooler"])
        self.setup(["backup", "create", "--profile", db])
        newest = max((self.work / "target").rglob("*.enc"), key=lambda p: p.stat().st_mtime).name
        listed = json.loads(self.setup(["backup", "list", "--target", "bench", "--json"]))
        rows = listed["backups"] if isinstance(listed, dict) else listed
        row = next(r for r in rows if str(r.get("key", "")).endswith(newest))
        backup_id = str(row.get("short_id") or row.get("id"))
        self.setup(["backup", "verify", backup_id, "--secret-key-file", str(self.secret)])
        dump = self.work / f"{db}.dump"
        run_plain([[str(self.pg.tool("pg_dump")), "-Fc", "-f", str(dump), f"--dbname={self.pg.dsn(db)}"]])
        return backup_id, dump

    def plain_restore(self, dump: Path, jobs: int) -> Run:
        target = "bench_plain_restore"
        self.pg.psql("CHECKPOINT")
        try:
            return run_plain([[str(self.pg.tool("createdb")), *self.pg.conn_args()[:-2], target],
                              [str(self.pg.tool("pg_restore")), f"--jobs={jobs}", f"--dbname={self.pg.dsn(target)}",
                               str(dump)]])
        finally:
            self.pg.dropdb(target)

    def console_restore(self, db: str, backup_id: str, jobs: int) -> Run:
        target = "bench_ours_restore"
        self.pg.psql("CHECKPOINT")
        try:
            return run_console(self.cli + ["restore", "run", backup_id, "--profile", db, "--new-database", target,
                                           "--jobs", str(jobs), "--yes"], self.env)
        finally:
            self.pg.dropdb(target)


def build(pg: PgServer, rows: int, scale: int) -> list[str]:
    """The databases to measure: empty (fixed costs), realistic, and pgbench when asked for."""
    pg.createdb("bench_empty")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);", db="bench_empty")
    chosen = ["bench_empty"]
    if rows:
        pg.createdb("bench_realistic")
        pg.psql(REALISTIC % {"rows": rows}, db="bench_realistic")
        chosen.append("bench_realistic")
    if scale:
        pg.createdb("bench_pgbench")
        pg.run("pgbench", "-i", "-s", str(scale), "-q", *pg.conn_args("bench_pgbench")[:-2], "bench_pgbench")
        chosen.append("bench_pgbench")
    pg.psql("ALTER SYSTEM SET autovacuum = off")  # it would wake at random and take a core from some run
    pg.psql("SELECT pg_reload_conf()")
    for db in chosen:
        pg.psql("VACUUM ANALYZE", db=db)
    pg.psql("CHECKPOINT")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the realistic table (0: skip it)")
    parser.add_argument("--pgbench-scale", type=int, default=0, help="also a pgbench database of this scale")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "recovery_console", quiet=1)  # as installed: bytecode compiled once
    work = Path(tempfile.mkdtemp(prefix="rc-bench-jobs-"))
    factory = PgServerFactory()
    summary: list[str] = []
    try:
        with running_secret_service() as keyring_service:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = keyring_service.address
            os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
            os.environ["RECOVERY_CONSOLE_HOME"] = str(work / "home")
            pg = factory.start(15)
            print(f"PostgreSQL {pg.version}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; --jobs "
                  f"{args.jobs}; realistic rows {args.rows:,}, pgbench scale {args.pgbench_scale}", flush=True)
            chosen = build(pg, args.rows, args.pgbench_scale)
            (work / "target").mkdir()
            secret = work / "secret"
            secret.write_text("benchmark secret")
            session = Session(pg, work, secret)
            session.setup(["target", "add", "local", "bench", str(work / "target")])
            for db in chosen:
                backup_id, dump = session.backup(db)
                size = pg.psql(f"SELECT pg_size_pretty(pg_database_size('{db}'))")
                print(f"== {db}: database {size}, plain dump {dump.stat().st_size / 1e6:.1f} MB", flush=True)
                plain_runs, our_runs = alternate(f"--jobs {args.jobs}", args.rounds,
                                                 lambda d=dump: session.plain_restore(d, args.jobs),
                                                 lambda d=db, i=backup_id: session.console_restore(d, i, args.jobs))
                what = "fixed cost (empty database)" if db == "bench_empty" else f"{db} ({size})"
                summary.append(verdict(f"{what}, --jobs {args.jobs} vs pg_restore -j {args.jobs}", plain_runs,
                                       our_runs))
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmedians of {args.rounds} alternating rounds; load at the end {os.getloadavg()[0]:.2f} (2 shared cores: "
          "read the ratios, not absolute times)")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
