"""The offline workbench against pg_restore doing the same work (issue 17's performance targets).

    python bench/forensics.py [--rows 2000000] [--major 17] [--compressions none,gzip,zstd,lz4]
                              [--rounds 3] [--work DIR]

Starts its own PostgreSQL on 127.0.0.1, fills `events` (id, inet, text, jsonb: every row needs CSV
quoting) with one planted IOC, dumps it with each compression and prints, per archive, the median
wall time of ≥3 alternating rounds (baseline, console, baseline, console, …) and their ratio, and
the same for CPU time (user + system of all the command's processes: steadier on a busy machine):

  export  `recovery-console export --table events` (CSV, to a file)
          vs `pg_restore --data-only --table events -f -` (which only copies COPY text)   target ≤ 2.0×
  search  `recovery-console search` for the IOC (in one row)
          vs `pg_restore --data-only -f - | grep -c`                                     target ≤ 1.0×
  start   `export --limit 0` alone (information: the fixed cost in every console figure)
  stdout  (only when asked) the CSV export to stdout, as pg_restore's goes (information: what writing the
          file and its fsync add; the target is the export to a file)
  .enc    export from a backup of the uncompressed dump (decrypted and unzstd'd as a stream)
          vs export from that dump itself (information: what decryption adds)

The CSV quotes every value, so the export is three bytes.replace passes per 256 KiB chunk plus its
SHA-256 and the write; pg_restore only copies the text out, so with lz4, zstd or no compression the
console's work (not the decompression both share) is what the ratio measures.

Console commands run as fresh processes. `--work DIR` keeps the database's dumps (and the backup)
in DIR and reuses them on the next run with the same --rows, so before/after runs read the same files.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402
from tests.fixtures.postgres import PgServerFactory, tool_env  # noqa: E402

IOC = "203.0.113.77"
SECRET = "bench-forensics-secret"
EXPORT_TARGET, SEARCH_TARGET = 2.0, 1.0


@dataclass(frozen=True)
class Setup:
    """What the forensic benches run against: one dump per compression, a backup of the plain one, the tools."""

    work: Path
    dumps: dict[str, Path]
    enc: Path
    secret_file: Path
    pg_restore: str
    console: str
    env: dict[str, str]


@dataclass(frozen=True)
class Timing:
    """Wall time and CPU time (user + system of every process the command ran, threads included)."""

    wall: float
    cpu: float


def timed(command: str, env: dict[str, str]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def alternating(baseline: str, ours: str, env: dict[str, str], rounds: int) -> tuple[Timing, Timing]:
    """Median wall and CPU times of `baseline` and `ours`, run one after the other `rounds` times."""
    base: list[Timing] = []
    mine: list[Timing] = []
    for _ in range(rounds):
        base.append(timed(baseline, env))
        mine.append(timed(ours, env))
    return _median(base), _median(mine)


def _median(runs: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in runs), statistics.median(t.cpu for t in runs))


def prepare_forensics(factory: PgServerFactory, work: Path, rows: int, major: int, compressions: list[str]) -> Setup:
    """Dumps of the `events` table per compression (reused from `work` when there), and a backup of the plain one."""
    work.mkdir(parents=True, exist_ok=True)
    # an installed console runs from compiled bytecode: keep it (out of the tree) even where the shell disables it
    env = {**tool_env(), "RECOVERY_CONSOLE_HOME": str(work / "home"), "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    tag = f"{rows}-pg{major}"
    dumps = {c: work / f"events-{tag}-{c}.dump" for c in sorted({*compressions, "none"})}
    server = None
    if not all(path.exists() for path in dumps.values()):
        server = factory.start(major)
        if "bench" not in server.databases():
            server.createdb("bench")
        server.psql(f"""DROP TABLE IF EXISTS events;
            CREATE TABLE events (id bigint, host inet, note text, payload jsonb);
            INSERT INTO events SELECT g, ('10.0.' || (g % 250) || '.' || (g % 200))::inet,
                CASE WHEN g = {rows // 3} THEN 'login from {IOC}' ELSE 'event ' || g || ' ' || md5(g::text) END,
                jsonb_build_object('g', g, 's', repeat('x', g % 40)) FROM generate_series(1, {rows}) g;""",
                    db="bench")
        for compression, dump in dumps.items():
            level = "0" if compression == "none" else compression
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(dump), *server.conn_args("bench"))
    secret_file = work / "secret.txt"
    secret_file.write_text(SECRET + "\n", "utf-8")
    enc = work / f"events-{tag}.enc"
    if not enc.exists():
        maker = Path(tempfile.mkdtemp(prefix="maker-", dir=work))
        console = Console(AppPaths(config_dir=maker / "config", data_dir=maker / "data"))
        (maker / "vault").mkdir()
        console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(maker / "vault")}))
        with open(dumps["none"], "rb") as stream:
            record = console.create_backup(stream, "vault", SECRET, iterations=1000, source_name=dumps["none"].name)
        shutil.copyfile(console.storage("vault").location(record.key), enc)
    pg_restore = str(server.tool("pg_restore") if server else factory.bin_dir(major) / "pg_restore")
    return Setup(work, dumps, enc, secret_file, pg_restore, f"{sys.executable} -m recovery_console.cli.main --quiet",
                 env)


def _report(what: str, compression: str, size: Path, base: Timing, ours: Timing, target: float | None) -> None:
    ratio = ours.wall / base.wall
    verdict = "" if target is None else ("  ok" if ratio <= target else f"  OVER {target:.1f}x")
    print(f"{what:<7}{compression:>6} ({size.stat().st_size / 2**20:7.1f} MiB)  baseline {base.wall:6.2f}s  "
          f"console {ours.wall:6.2f}s  ratio {ratio:5.2f}x{verdict:<10} | CPU {base.cpu:6.2f}s vs "
          f"{ours.cpu:6.2f}s = {ours.cpu / base.cpu:5.2f}x", flush=True)


def bench_export(setup: Setup, compressions: list[str], rounds: int) -> None:
    """CSV export of `events` against pg_restore --data-only --table events -f -."""
    for compression in compressions:
        dump = setup.dumps[compression]
        base, ours = alternating(
            f"{setup.pg_restore} --data-only --table events -f - {dump}",
            f"{setup.console} export {dump} --table events -o {setup.work / 'out.csv'} --force", setup.env, rounds)
        _report("export", compression, dump, base, ours, EXPORT_TARGET)


def bench_stdout(setup: Setup, compressions: list[str], rounds: int) -> None:
    """CSV export of `events` to stdout (no file, no fsync) against pg_restore --data-only --table events -f -."""
    for compression in compressions:
        dump = setup.dumps[compression]
        base, ours = alternating(f"{setup.pg_restore} --data-only --table events -f - {dump}",
                                 f"{setup.console} export {dump} --table events 2>/dev/null", setup.env, rounds)
        _report("stdout", compression, dump, base, ours, None)


def bench_start(setup: Setup, rounds: int) -> None:
    """What a console command costs before it reads a row: start-up, imports, the archive's TOC, the audit entry."""
    dump = setup.dumps["none"]
    runs = [timed(f"{setup.console} export {dump} --table events --limit 0 -o {setup.work / 'out.csv'} --force",
                  setup.env) for _ in range(rounds)]
    start = _median(runs)
    print(f"{'start':<7}(export --limit 0, no rows: {start.wall:5.2f}s, CPU {start.cpu:5.2f}s; part of every "
          "console figure above and below)", flush=True)


def bench_search(setup: Setup, compressions: list[str], rounds: int) -> None:
    """search for the IOC against pg_restore --data-only -f - | grep -c."""
    for compression in compressions:
        dump = setup.dumps[compression]
        base, ours = alternating(f"{setup.pg_restore} --data-only -f - {dump} | grep -c {IOC}",
                                 f"{setup.console} search {dump} {IOC}", setup.env, rounds)
        _report("search", compression, dump, base, ours, SEARCH_TARGET)


def bench_export_enc(setup: Setup, rounds: int) -> None:
    """CSV export from a backup (.enc of the -Z0 dump) against export from that dump: the cost of decryption."""
    dump = setup.dumps["none"]
    plain, enc = alternating(
        f"{setup.console} export {dump} --table events -o {setup.work / 'out.csv'} --force",
        f"{setup.console} export {setup.enc} --table events -o {setup.work / 'out.csv'} --force "
        f"--secret-key-file {setup.secret_file}", setup.env, rounds)
    _report(".enc", "zstd", setup.enc, plain, enc, None)
    base = timed(f"{setup.pg_restore} --data-only --table events -f - {dump}", setup.env)
    print(f"{'':<7}(.enc export against pg_restore on the plain dump: {enc.wall / base.wall:5.2f}x, "
          f"CPU {enc.cpu / base.cpu:5.2f}x)", flush=True)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--compressions", default="none,gzip,zstd,lz4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep (and reuse) the dumps here")
    parser.add_argument("--only", default="export,start,search,enc",
                        help="which forensic benches to run (also: stdout)")
    args = parser.parse_args()
    factory = PgServerFactory()
    work = args.work or Path(tempfile.mkdtemp(prefix="rc-bench-forensics-"))
    compressions = args.compressions.split(",")
    benches: dict[str, Callable[[Setup], None]] = {
        "export": lambda s: bench_export(s, compressions, args.rounds),
        "stdout": lambda s: bench_stdout(s, compressions, args.rounds),
        "start": lambda s: bench_start(s, args.rounds),
        "search": lambda s: bench_search(s, compressions, args.rounds),
        "enc": lambda s: bench_export_enc(s, args.rounds),
    }
    try:
        setup = prepare_forensics(factory, work, args.rows, args.major, compressions)
        print(f"{args.rows} rows, PostgreSQL {args.major}, medians of {args.rounds} alternating rounds; "
              f"load {_load()}", flush=True)
        for name in args.only.split(","):
            benches[name](setup)
        print(f"load at the end {_load()} ({os.cpu_count()} cores)", flush=True)
    finally:
        factory.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
