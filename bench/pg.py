"""Backup and restore along the README's commands, against plain pg_dump / createdb && pg_restore.

    python bench/pg.py [--quick] [--rounds 3] [--databases realistic,pgbench] [--rows N] [--pgbench-scale N]
                       [--jobs 2] [--no-backup] [--no-in-place]
    RC_BENCH_QUICK=1 python bench/pg.py      # the same as --quick: small data, ~2–3 min on 2 busy cores

Starts its own PostgreSQL 15 on 127.0.0.1 and a private, unlocked gnome-keyring (the profile's
instance secret lives there, as `profile create --secret-key-file` leaves it), builds the
databases, and measures what a user runs, each console command a fresh `python -m
recovery_console.cli.main` process exactly as the README shows it (no --secret-key-file):

  backup     `pg_dump -Fc -f FILE`                       vs `backup create --profile P`
  new db     `createdb X && pg_restore -d X FILE`         vs `restore run ID --profile P --new-database X --yes`
  in place   `createdb X && pg_restore -d X FILE`         vs `restore run ID --profile P --yes` (swap included)
  --jobs N   `createdb X && pg_restore -j N -d X FILE`    vs the new-database command with `--jobs N`

FILE is the plain `pg_dump -Fc` archive; the console restores the backup made from the same
database, after a `backup verify` put a full verify on record (the pre-flight then trusts it; the
restore still authenticates every chunk and the archive hash before anything is swapped in).
Plain and console runs alternate, --rounds times; every run is printed with the median of its kind
so far, and the verdict uses the medians. A console run also reports its own CPU seconds (the
process tree's, from wait4, minus its children's — pg_restore, tool probes — as the console last
logged them) and its phase breakdown: the engine's timing spans (engine/timing.py), logged under
`--debug` and read from stderr. Phases nest: key-derivation runs inside pre-flight and streaming;
row-count-check is each table's presence and rows (the server's counters, count(*) where they differ);
keyring-read is the instance secret's reads: engine/key_ahead.py's before the imports, whose PBKDF2 then
runs beside them, and the command's own (keyring-probe shows only when a read found nothing and the keyring
was probed); a span off the main thread is named NAME@THREAD and is not a step; "rest" is the wall time
outside the top-level spans (interpreter start, imports, the wait for the key, audit, journal).
Every run starts after a CHECKPOINT and a sync: the test server runs with fsync off, so what earlier runs wrote
(WAL, restored tables, dump files) stays dirty in the page cache, and without the sync the kernel writes it
back at random in some later run, plain or console (rounds drifted by 2 s). Autovacuum is off. One run of each
kind goes untimed first.
Targets (issue 19): restore ≤ 1.05 × plain + 1.0 s (new database, in place, --jobs N);
backup ≤ plain + 0.3 s at pgbench scale 20; peak RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import compileall
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
TOP_SPANS = ("keyring-read", "keyring-probe", "pre-flight", "create-database", "streaming", "row-count-check", "swap")
SPAN_LINE = re.compile(r"recovery_console\.engine\.timing: span (\S+) ([\d.]+) cpu self=([\d.]+) children=([\d.]+)")
FIXED = 1.0  # the restore target's fixed allowance, seconds
SLOPE = 1.05


@dataclass
class Run:
    """One measured run: wall seconds, and for a console run its own CPU, peak RSS and timing spans."""

    wall: float
    cpu: float | None = None
    rss_mb: float | None = None
    spans: dict[str, float] = field(default_factory=dict)


def _check(proc: subprocess.CompletedProcess[str] | subprocess.Popen[str], what: str, err: str) -> None:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}): {err[-3000:]}")


def run_plain(argvs: list[list[str]]) -> Run:
    """Wall time of commands run one after the other (`createdb && pg_restore`)."""
    start = time.monotonic()
    for argv in argvs:
        proc = subprocess.run(argv, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _check(proc, argv[0], proc.stderr)
    return Run(time.monotonic() - start)


def run_console(argv: list[str], env: dict[str, str]) -> Run:
    """One fresh console process: wall, own CPU (tree minus the children it waited for), peak RSS, spans."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    _check(proc, "console " + " ".join(argv[3:6]), text)
    spans: dict[str, float] = {}
    children = 0.0
    for name, seconds, _self, kids in SPAN_LINE.findall(text):
        spans[name] = spans.get(name, 0.0) + float(seconds)
        children = max(children, float(kids))
    tree = usage.ru_utime + usage.ru_stime
    return Run(wall, tree - children, usage.ru_maxrss / 1024, spans)


def _med(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def paired(label: str, rounds: int, plain: Callable[[], Run], ours: Callable[[], Run],
           settle: Callable[[], None]) -> tuple[list[Run], list[Run]]:
    """Alternate plain and console runs, each after `settle`; print each with the median of its kind so far."""
    plain_runs: list[Run] = []
    our_runs: list[Run] = []
    for i in range(rounds):
        settle()
        plain_runs.append(plain())
        settle()
        our_runs.append(ours())
        p, o = plain_runs[-1], our_runs[-1]
        print(f"  {label} round {i + 1}: plain {p.wall:6.2f} s (median {_med(plain_runs):6.2f}) | console "
              f"{o.wall:6.2f} s (median {_med(our_runs):6.2f}; own CPU {o.cpu:.2f} s, peak RSS {o.rss_mb:.0f} MB) "
              f"| load {os.getloadavg()[0]:.1f}", flush=True)
    return plain_runs, our_runs


def phases(runs: list[Run]) -> str:
    """Median seconds of each timing span over the runs, and the wall time outside the top-level ones."""
    names = sorted({n for r in runs for n in r.spans}, key=lambda n: (TOP_SPANS + (n,)).index(n))
    parts = [f"{n} {statistics.median(r.spans.get(n, 0.0) for r in runs):.2f}" for n in names]
    rest = statistics.median(r.wall - sum(v for k, v in r.spans.items() if k in TOP_SPANS) for r in runs)
    return ", ".join(parts + [f"rest {rest:.2f}"])


def verdict(plain_runs: list[Run], our_runs: list[Run], bound: Callable[[float], float], what: str) -> str:
    plain_m, ours_m = _med(plain_runs), _med(our_runs)
    limit = bound(plain_m)
    cpu = statistics.median(r.cpu or 0.0 for r in our_runs)
    rss = max(r.rss_mb or 0.0 for r in our_runs)
    return (f"plain {plain_m:6.2f} s | console {ours_m:6.2f} s | ratio {ours_m / plain_m:.2f}, "
            f"+{ours_m - plain_m:.2f} s | target {what} = {limit:.2f} s {'PASS' if ours_m <= limit else 'FAIL'} | "
            f"console own CPU {cpu:.2f} s | peak RSS {rss:.0f} MB {'PASS' if rss <= 150 else 'FAIL'}\n"
            f"      phases (median s): {phases(our_runs)}")


class Bench:
    """The server, the console's home and the commands, for one benchmark session."""

    def __init__(self, pg: PgServer, work: Path, env: dict[str, str]) -> None:
        self.pg = pg
        self.work = work
        self.env = env
        self.cli = [sys.executable, "-m", "recovery_console.cli.main", "--debug"]

    def settle(self) -> None:
        """Start the next run from the same state: PostgreSQL's buffers written out, and the OS's dirty pages."""
        self.pg.psql("CHECKPOINT")
        os.sync()

    def console(self, *args: str) -> Run:
        return run_console(self.cli + list(args), self.env)

    def plain_restore(self, dump: Path, jobs: int) -> Run:
        target = "bench_plain_restore"
        try:
            return run_plain([[str(self.pg.tool("createdb")), *self.pg.conn_args()[:-2], target],
                              [str(self.pg.tool("pg_restore")), f"--jobs={jobs}", f"--dbname={self.pg.dsn(target)}",
                               str(dump)]])
        finally:
            self.pg.dropdb(target)

    def new_database(self, db: str, backup_id: str, jobs: int) -> Run:
        target = "bench_ours_restore"
        try:
            extra = ["--jobs", str(jobs)] if jobs > 1 else []
            return self.console("restore", "run", backup_id, "--profile", db, "--new-database", target, *extra,
                                "--yes")
        finally:
            self.pg.dropdb(target)

    def in_place(self, db: str, backup_id: str) -> Run:
        try:
            return self.console("restore", "run", backup_id, "--profile", db, "--yes")
        finally:
            for kept in self.pg.databases():
                if kept.startswith(f"{db}__"):
                    self.pg.dropdb(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("RC_BENCH_QUICK", "") not in ("", "0"),
                        help="small data (200k realistic rows, pgbench scale 5): a few minutes here")
    parser.add_argument("--pgbench-scale", type=int)
    parser.add_argument("--rows", type=int, help="rows of the realistic table (default 2M: a 645 MB database)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="N of the --jobs comparison (0: skip it)")
    parser.add_argument("--databases", default="realistic,pgbench")
    parser.add_argument("--no-backup", action="store_true", help="skip the backup comparison")
    parser.add_argument("--no-in-place", action="store_true", help="skip the in-place restore")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 2_000_000)
    scale = args.pgbench_scale or (5 if args.quick else 20)
    chosen = [f"bench_{name.strip()}" for name in args.databases.split(",")]
    if not chosen or any(db not in ("bench_realistic", "bench_pgbench") for db in chosen):
        parser.error("--databases takes realistic, pgbench or both")
    if args.rounds < 3:
        print("note: fewer than 3 rounds; the medians are not worth much", file=sys.stderr)
    # as installed: pip compiles the package to bytecode, so the console's runs must not compile it each time
    compileall.compile_dir(ROOT / "recovery_console", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="rc-bench-pg-"))
    factory = PgServerFactory()
    try:
        with running_secret_service() as keyring_service:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = keyring_service.address
            os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
            os.environ["RECOVERY_CONSOLE_HOME"] = str(work / "home")
            pg = factory.start(15)
            print(f"PostgreSQL {pg.version} on port {pg.port}; {os.cpu_count()} CPUs, load "
                  f"{os.getloadavg()[0]:.2f}; realistic rows {rows:,}, pgbench scale {scale}", flush=True)
            build(pg, chosen, rows, scale)
            measure(Bench(pg, work, dict(os.environ)), chosen, args)
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


def build(pg: PgServer, chosen: list[str], rows: int, scale: int) -> None:
    if "bench_pgbench" in chosen:
        pg.createdb("bench_pgbench")
        pg.run("pgbench", "-i", "-s", str(scale), "-q", *pg.conn_args("bench_pgbench")[:-2], "bench_pgbench")
    if "bench_realistic" in chosen:
        pg.createdb("bench_realistic")
        pg.psql(REALISTIC % {"rows": rows}, db="bench_realistic")
    # autovacuum would wake at random on the loaded and the restored databases and take a core
    # from whichever run it met; the loaded ones are vacuumed now instead
    pg.psql("ALTER SYSTEM SET autovacuum = off")
    pg.psql("SELECT pg_reload_conf()")
    for db in chosen:
        pg.psql("VACUUM ANALYZE", db=db)
    pg.psql("CHECKPOINT")


def measure(bench: Bench, chosen: list[str], args: argparse.Namespace) -> None:
    work = bench.work
    (work / "target").mkdir()
    secret = work / "secret"
    secret.write_text("benchmark secret")
    subprocess.run(bench.cli + ["target", "add", "local", "bench", str(work / "target")], env=bench.env, check=True,
                   capture_output=True)
    summary: list[str] = []
    for db in chosen:
        summary += measure_one(bench, db, secret, args)
    print(f"\nload at the end {os.getloadavg()[0]:.2f} (2 cores are shared: read ratios, not absolute times)")
    for line in summary:
        print(line)


def measure_one(bench: Bench, db: str, secret: Path, args: argparse.Namespace) -> list[str]:
    """Every comparison for one database; returns its summary lines."""
    pg, work = bench.pg, bench.work
    summary: list[str] = []
    size = pg.psql(f"SELECT pg_size_pretty(pg_database_size('{db}'))").strip()
    print(f"== {db} (database {size})", flush=True)
    subprocess.run(bench.cli + ["profile", "create", db, "--database-url-env", "BENCH_URL", "--target", "bench",
                                "--secret-key-file", str(secret)], env={**bench.env, "BENCH_URL": pg.dsn(db)},
                   check=True, capture_output=True)
    subprocess.run(bench.cli + ["profile", "set-mode", db, "direct", "--not-a-pooler"], env=bench.env, check=True,
                   capture_output=True)
    dump = work / f"{db}.dump"
    dump_argv = [str(pg.tool("pg_dump")), "-Fc", "-f", str(dump), f"--dbname={pg.dsn(db)}"]
    if args.no_backup:
        run_plain([dump_argv])
        bench.console("backup", "create", "--profile", db)
    else:
        plain_runs, our_runs = paired("backup", args.rounds, lambda: run_plain([dump_argv]),
                                      lambda: bench.console("backup", "create", "--profile", db), bench.settle)
        summary.append(f"{db} backup: " + verdict(plain_runs, our_runs, lambda p: p + 0.3, "plain + 0.3 s"))
    backups = sorted((work / "target").rglob("*.enc"), key=lambda p: p.stat().st_mtime)
    listed = subprocess.run(bench.cli + ["backup", "list", "--target", "bench", "--json"], env=bench.env,
                            check=True, capture_output=True, text=True).stdout
    backup_id = _id_of(listed, backups[-1].name)
    subprocess.run(bench.cli + ["backup", "verify", backup_id, "--secret-key-file", str(secret)], env=bench.env,
                   check=True,
                   capture_output=True)
    size_line = f"plain dump {dump.stat().st_size / 1e6:.1f} MB, backup {backups[-1].stat().st_size / 1e6:.1f} MB"
    print(f"  {size_line}", flush=True)
    bench.plain_restore(dump, 1), bench.new_database(db, backup_id, 1)  # untimed: the first runs are slowest
    plain_runs, our_runs = paired("restore new db", args.rounds, lambda: bench.plain_restore(dump, 1),
                                  lambda: bench.new_database(db, backup_id, 1), bench.settle)
    summary.append(f"{db} restore --new-database ({size_line}): "
                   + verdict(plain_runs, our_runs, lambda p: SLOPE * p + FIXED, "1.05 × plain + 1 s"))
    if not args.no_in_place:
        plain_runs, our_runs = paired("restore in place", args.rounds, lambda: bench.plain_restore(dump, 1),
                                      lambda: bench.in_place(db, backup_id), bench.settle)
        summary.append(f"{db} restore in place: "
                       + verdict(plain_runs, our_runs, lambda p: SLOPE * p + FIXED, "1.05 × plain + 1 s"))
    if args.jobs > 1:
        plain_runs, our_runs = paired(f"restore --jobs {args.jobs}", args.rounds,
                                      lambda: bench.plain_restore(dump, args.jobs),
                                      lambda: bench.new_database(db, backup_id, args.jobs), bench.settle)
        summary.append(f"{db} restore --jobs {args.jobs} vs pg_restore -j {args.jobs}: "
                       + verdict(plain_runs, our_runs, lambda p: SLOPE * p + FIXED, "1.05 × plain + 1 s"))
    return summary


def _id_of(listed: str, filename: str) -> str:
    import json

    data = json.loads(listed)
    rows = data["backups"] if isinstance(data, dict) else data
    for row in rows:
        if str(row.get("key", "")).endswith(filename):
            return str(row.get("short_id") or row.get("id"))
    raise SystemExit(f"backup {filename} is not listed: {listed[:500]}")


if __name__ == "__main__":
    main()
