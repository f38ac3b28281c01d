"""Backup and restore against plain pg_dump / pg_restore, on pgbench and on realistic data.

    python bench/pg.py [--pgbench-scale 20] [--rows 3000000] [--runs N] [--databases realistic,pgbench]

Starts its own PostgreSQL 15 on 127.0.0.1, builds two databases, and prints, for each, the
wall time and size of `pg_dump -Fc -f FILE` against `recovery-console backup create --profile`
(zstd inside the console), and of `pg_restore -d` (1 and 2 jobs) against `recovery-console
restore run --new-database`, which proves every chunk and the archive hash as it streams and checks
every table's row count before it reports success. The console restore is timed twice: after a
`backup verify` put a full verify of the unchanged file on record (the pre-flight then trusts it;
the usual path when backups are verified on a schedule) and with `--verify-first`, which decrypts
the whole backup once more before restoring.
Every console run is a fresh process whose peak RSS is reported. With --runs N each measurement
is repeated, plain and console runs alternating, and the best time kept for the verdict (single
runs of a 12 s restore vary by ±15% here); every run and the ratio of the medians are printed too.
Every restore starts after a CHECKPOINT so none pays for the previous one's dirty pages, and
autovacuum is off so it cannot wake in the middle of a run. One restore of each kind runs untimed
first: on this VM the first restores into a new cluster were often the slowest of their kind.
Targets (issue 3): backup ≤ 0.5× on realistic data with output ≤ 1.05× the size, ≤ 1.05× on
pgbench; restore ≤ 1.05× single job; peak RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.models.profile import ConnectionMode  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402
from tests.fixtures.postgres import PgServerFactory  # noqa: E402

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


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {err.decode()[-2000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, rss


def child_rss(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a console command in a wrapper that reports only that process's own peak RSS."""
    wrapper = ("import resource, subprocess, sys, time; t = time.monotonic(); "
               "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
               "print(time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
               "sys.exit(r.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"console failed: {out.stderr[-2000:]}")
    seconds, rss = out.stdout.split()
    return float(seconds), int(rss) / 1024


def paired(runs: int, plain, ours):
    """The best of `runs` runs of each, alternating them: a slow spell of the machine hits both alike.

    Every run and the ratio of the medians are printed too: here a single run can be 25% off.
    """
    plain_runs, our_runs = [], []
    for _ in range(runs):
        plain_runs.append(plain())
        our_runs.append(ours())
    median_ratio = statistics.median(r[0] for r in our_runs) / statistics.median(r[0] for r in plain_runs)
    print(f"  runs: plain {' '.join(f'{r[0]:.2f}' for r in plain_runs)} | console "
          f"{' '.join(f'{r[0]:.2f}' for r in our_runs)} | ratio of the medians {median_ratio:.2f}", flush=True)
    return min(plain_runs, key=lambda r: r[0]), min(our_runs, key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgbench-scale", type=int, default=20)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--databases", default="realistic,pgbench",
                        help="which of the two databases to build and measure (comma-separated)")
    args = parser.parse_args()
    chosen = [f"bench_{name.strip()}" for name in args.databases.split(",")]
    if not chosen or any(db not in ("bench_realistic", "bench_pgbench") for db in chosen):
        parser.error("--databases takes realistic, pgbench or both")
    # as installed: pip compiles the package to bytecode, so the console's runs must not compile it each time
    compileall.compile_dir(ROOT / "recovery_console", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="rc-bench-pg-"))
    factory = PgServerFactory()
    try:
        pg = factory.start(15)
        print(f"PostgreSQL {pg.version} on port {pg.port}; load: {os.getloadavg()[0]:.2f}")
        if "bench_pgbench" in chosen:
            pg.createdb("bench_pgbench")
            pg.run("pgbench", "-i", "-s", str(args.pgbench_scale), "-q", *pg.conn_args("bench_pgbench")[:-2],
                   "bench_pgbench")
        if "bench_realistic" in chosen:
            pg.createdb("bench_realistic")
            pg.psql(REALISTIC % {"rows": args.rows}, db="bench_realistic")
        # autovacuum would wake at random on the loaded and the restored databases and take a core
        # from whichever run it met; the loaded ones are vacuumed now instead
        pg.psql("ALTER SYSTEM SET autovacuum = off")
        pg.psql("SELECT pg_reload_conf()")
        for db in chosen:
            pg.psql("VACUUM ANALYZE", db=db)
        pg.psql("CHECKPOINT")
        home = work / "home"
        console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
        (work / "target").mkdir()
        console.add_target(TargetConfig(name="bench", kind="local", options={"path": str(work / "target")}))
        secret = work / "secret"
        secret.write_text("benchmark secret")
        env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home)}
        cli = [sys.executable, "-m", "recovery_console.cli.main"]
        rows = []
        for db in chosen:
            console.profiles.create(db, pg.dsn(db), target="bench")
            console.profiles.set_mode(db, ConnectionMode.DIRECT, acknowledge_direct=True)
            size = pg.psql(f"SELECT pg_size_pretty(pg_database_size('{db}'))").strip()
            plain = work / f"{db}.dump"
            backups = work / "target" / "backups"
            before = {p.name for p in backups.glob("*.enc")} if backups.exists() else set()
            (dump_s, _), (ours_s, ours_rss) = paired(
                args.runs,
                lambda db=db, plain=plain: timed([str(pg.tool("pg_dump")), "-Fc", "-f", str(plain),
                                                  f"--dbname={pg.dsn(db)}"]),
                lambda db=db: child_rss(cli + ["backup", "create", "--profile", db, "--secret-key-file", str(secret)],
                                        env))
            made = sorted(p for p in (work / "target" / "backups").glob("*.enc") if p.name not in before)
            ours_size = made[-1].stat().st_size
            record = console.list_backups(["bench"])[0]
            backup_id = next(r.short_id for r in record if r.key.endswith(made[-1].name))
            subprocess.run(cli + ["backup", "verify", backup_id, "--secret-key-file", str(secret)], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            restore_plain = {}
            restore_ours = {}
            def plain_restore(jobs: int, db: str = db, plain: Path = plain) -> tuple[float, int]:
                target_db = f"{db}_plain_{jobs}"
                pg.createdb(target_db)
                pg.psql("CHECKPOINT")
                try:
                    return timed([str(pg.tool("pg_restore")), f"--jobs={jobs}", f"--dbname={pg.dsn(target_db)}",
                                  str(plain)])
                finally:
                    pg.dropdb(target_db)

            def our_restore(jobs: int, *extra: str, db: str = db, backup_id: str = backup_id) -> tuple[float, float]:
                ours_db = f"{db}_ours_{jobs}"
                pg.psql("CHECKPOINT")
                try:
                    return child_rss(cli + ["restore", "run", backup_id, "--profile", db, "--new-database", ours_db,
                                            "--jobs", str(jobs), "--yes", "--secret-key-file", str(secret), *extra],
                                     env)
                finally:
                    pg.dropdb(ours_db)

            plain_restore(1), our_restore(1)  # untimed: the first restores into a new cluster run slowest here
            for jobs in (1, 2):
                plain_best, restore_ours[jobs] = paired(args.runs, lambda jobs=jobs: plain_restore(jobs),
                                                        lambda jobs=jobs: our_restore(jobs))
                restore_plain[jobs] = plain_best[0]
            restore_ours["1-verify-first"] = min((our_restore(1, "--verify-first") for _ in range(args.runs)),
                                                 key=lambda r: r[0])
            rows.append((db, size, dump_s, plain.stat().st_size, ours_s, ours_size, ours_rss, restore_plain,
                         restore_ours))
        print()
        for db, size, dump_s, plain_size, ours_s, ours_size, ours_rss, rp, ro in rows:
            realistic = db == "bench_realistic"
            time_target = 0.5 if realistic else 1.05
            print(f"== {db} (database {size})")
            print(f"  backup   pg_dump -Fc {dump_s:7.2f} s {plain_size / 1e6:8.1f} MB | console {ours_s:7.2f} s "
                  f"{ours_size / 1e6:8.1f} MB | time ratio {ours_s / dump_s:.2f} (target ≤ {time_target}) "
                  f"{'PASS' if ours_s / dump_s <= time_target else 'FAIL'} | size ratio {ours_size / plain_size:.2f} "
                  f"(target ≤ 1.05{' on realistic' if realistic else ''}) "
                  f"{'PASS' if ours_size / plain_size <= 1.05 or not realistic else 'FAIL'} "
                  f"| peak RSS {ours_rss:.0f} MB "
                  f"{'PASS' if ours_rss <= 150 else 'FAIL'}")
            for jobs, label, what in ((1, "--jobs 1", "full verify on record"),
                                      (2, "--jobs 2", "full verify on record"),
                                      ("1-verify-first", "--jobs 1", "--verify-first")):
                plain_s = rp[1 if jobs == "1-verify-first" else jobs]
                ratio = ro[jobs][0] / plain_s
                target = " (target ≤ 1.05)" if jobs == 1 else ""
                verdict = ("PASS" if ratio <= 1.05 else "FAIL") if jobs == 1 else "info"
                print(f"  restore  {label}: pg_restore {plain_s:7.2f} s | console {ro[jobs][0]:7.2f} s "
                      f"({what}) | ratio {ratio:.2f}{target} {verdict} | "
                      f"peak RSS {ro[jobs][1]:.0f} MB {'PASS' if ro[jobs][1] <= 150 else 'FAIL'}")
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
