"""`backup create --profile P` against plain `pg_dump -Fc -f FILE`, the fixed cost apart from the per-byte (#19).

    python bench/backup_cost.py [--pgbench-scale 20] [--rows 0] [--rounds 3]

The same PostgreSQL 15, keyring and console home as bench/restore_jobs.py; alternates plain and
console runs (--rounds times, after one untimed run of each) on an empty database, whose
difference is the fixed cost (interpreter, keyring, key derivation, pg_dump's start, catalog,
sidecar, audit), and on a pgbench database (default scale 20) and, with --rows, the realistic one.
Targets: at pgbench scale 20 console <= plain + 0.3 s; on the realistic data it stays well under
plain (zstd inside the console instead of pg_dump's gzip).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from restore_jobs import ROOT, Run, Session, alternate, build, median, phases, run_console, run_plain  # noqa: E402

from tests.fixtures.keyring import running_secret_service  # noqa: E402
from tests.fixtures.postgres import PgServerFactory  # noqa: E402

FIXED_ALLOWANCE = 0.3


def verdict(label: str, plain_runs: list[Run], our_runs: list[Run], target: bool) -> str:
    p, o = median(plain_runs), median(our_runs)
    cpu = statistics.median(r.cpu or 0.0 for r in our_runs)
    check = (f" | target <= plain + {FIXED_ALLOWANCE} s = {p + FIXED_ALLOWANCE:.2f} s: "
             f"{'PASS' if o <= p + FIXED_ALLOWANCE else 'FAIL'}") if target else ""
    return (f"{label}: plain {p:.2f} s | console {o:.2f} s | ratio console/plain {o / p:.3f} ({o - p:+.2f} s)"
            f"{check} | console own CPU {cpu:.2f} s\n    console phases (median s): {phases(our_runs) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgbench-scale", type=int, default=20)
    parser.add_argument("--rows", type=int, default=0, help="also the realistic database with this many rows")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "recovery_console", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="rc-bench-backup-"))
    factory = PgServerFactory()
    summary: list[str] = []
    try:
        with running_secret_service() as keyring_service:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = keyring_service.address
            os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
            os.environ["RECOVERY_CONSOLE_HOME"] = str(work / "home")
            pg = factory.start(15)
            print(f"PostgreSQL {pg.version}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; pgbench scale "
                  f"{args.pgbench_scale}, realistic rows {args.rows:,}", flush=True)
            chosen = build(pg, args.rows, args.pgbench_scale)
            (work / "target").mkdir()
            secret = work / "secret"
            secret.write_text("benchmark secret")
            session = Session(pg, work, secret)
            session.setup(["target", "add", "local", "bench", str(work / "target")])
            for db in chosen:
                session.backup(db)  # the profile, and the server version it remembers
                dump = work / f"{db}.plain.dump"
                size = pg.psql(f"SELECT pg_size_pretty(pg_database_size('{db}'))")
                print(f"== {db}: database {size}", flush=True)
                plain_argv = [str(pg.tool("pg_dump")), "-Fc", "-f", str(dump), f"--dbname={pg.dsn(db)}"]
                plain_runs, our_runs = alternate(
                    "backup", args.rounds, lambda argv=plain_argv: run_plain([argv]),
                    lambda d=db: run_console(session.cli + ["backup", "create", "--profile", d], session.env))
                what = "fixed cost (empty database)" if db == "bench_empty" else f"{db} ({size})"
                summary.append(verdict(f"{what}, backup", plain_runs, our_runs, db == "bench_pgbench"))
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmedians of {args.rounds} alternating rounds; load at the end {os.getloadavg()[0]:.2f} (2 shared cores: "
          "read the ratios, not absolute times)")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
