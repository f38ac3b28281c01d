"""`backup create --profile P` against plain `pg_dump -Fc -f FILE`, the fixed cost apart from the per-byte (#19).

    python bench/backup_cost.py [--pgbench-scale 20] [--rows 0] [--rounds 3] [--baseline CHECKOUT]

The same PostgreSQL 15, keyring and console home as bench/restore_jobs.py; alternates plain and
console runs (--rounds times, after one untimed run of each) on an empty database, whose
difference is the fixed cost (interpreter, keyring, key derivation, pg_dump's start, catalog,
sidecar, audit), and on a pgbench database (default scale 20) and, with --rows, the realistic one.
Targets: at pgbench scale 20 console <= plain + 0.3 s; on the realistic data it stays well under
plain (zstd inside the console instead of pg_dump's gzip).

--baseline CHECKOUT (another checkout's root folder, e.g. `git worktree add /tmp/base main`): its console's
backups alternate with this one's as well, both with the same home and database, and the paired difference
is printed: a change's before and after measured under the same load (the machine is shared).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from restore_jobs import ROOT, Run, Session, alternate, build, median, phases, run_console, run_plain  # noqa: E402

from tests.fixtures.keyring import running_secret_service  # noqa: E402
from tests.fixtures.postgres import PgServerFactory  # noqa: E402

FIXED_ALLOWANCE = 0.3


def checkout_cli(root: Path) -> list[str]:
    """The console of the checkout at `root`, whatever the current folder (-P: not its code, nor the venv's)."""
    return ["env", f"PYTHONPATH={root}", sys.executable, "-P", "-m", "recovery_console.cli.main", "--debug"]


def verdict(label: str, plain_runs: list[Run], our_runs: list[Run], target: bool) -> str:
    p, o = median(plain_runs), median(our_runs)
    cpu = statistics.median(r.cpu or 0.0 for r in our_runs)
    check = (f" | target <= plain + {FIXED_ALLOWANCE} s = {p + FIXED_ALLOWANCE:.2f} s: "
             f"{'PASS' if o <= p + FIXED_ALLOWANCE else 'FAIL'}") if target else ""
    return (f"{label}: plain {p:.2f} s | console {o:.2f} s | ratio console/plain {o / p:.3f} ({o - p:+.2f} s)"
            f"{check} | console own CPU {cpu:.2f} s\n    console phases (median s): {phases(our_runs) or '-'}")


def baseline_rounds(rounds: int, plain: Callable[[], Run], base: Callable[[], Run],
                    ours: Callable[[], Run]) -> tuple[list[Run], list[Run], list[Run]]:
    """One untimed run of each, then plain, baseline and this console in turn (the two consoles' order swapped
    every round); each round printed."""
    plain(), base(), ours()
    runs: dict[str, list[Run]] = {"plain": [], "baseline": [], "this": []}
    for i in range(rounds):
        for kind in ("plain", "baseline", "this") if i % 2 == 0 else ("plain", "this", "baseline"):
            runs[kind].append({"plain": plain, "baseline": base, "this": ours}[kind]())
        print(f"  backup round {i + 1}: " + " | ".join(f"{k} {v[-1].wall:6.2f} s" for k, v in runs.items())
              + f" | load {os.getloadavg()[0]:.1f}", flush=True)
    return runs["plain"], runs["baseline"], runs["this"]


def compared(label: str, plain_runs: list[Run], base_runs: list[Run], our_runs: list[Run]) -> str:
    p, b, o = median(plain_runs), median(base_runs), median(our_runs)
    paired = statistics.median(ours.wall - base.wall for ours, base in zip(our_runs, base_runs, strict=True))
    return (f"{label}: plain {p:.2f} s | baseline {b:.2f} s ({b - p:+.2f} s) | this {o:.2f} s ({o - p:+.2f} s) | "
            f"this - baseline, median of the rounds' differences: {paired:+.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgbench-scale", type=int, default=20)
    parser.add_argument("--rows", type=int, default=0, help="also the realistic database with this many rows")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout whose console is measured alongside")
    args = parser.parse_args()
    for tree in (ROOT, args.baseline) if args.baseline else (ROOT,):
        compileall.compile_dir(tree / "recovery_console", quiet=1)
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
                what = "fixed cost (empty database)" if db == "bench_empty" else f"{db} ({size})"
                if args.baseline:
                    command = ["backup", "create", "--profile", db]
                    runs = baseline_rounds(args.rounds, lambda argv=plain_argv: run_plain([argv]),
                                           lambda c=command: run_console(checkout_cli(args.baseline) + c, session.env),
                                           lambda c=command: run_console(checkout_cli(ROOT) + c, session.env))
                    summary.append(compared(f"{what}, backup", *runs))
                    continue
                plain_runs, our_runs = alternate(
                    "backup", args.rounds, lambda argv=plain_argv: run_plain([argv]),
                    lambda d=db: run_console(session.cli + ["backup", "create", "--profile", d], session.env))
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
