"""`export --blobs` against pg_restore reading the same large objects out of the same archive.

    python bench/large_objects.py [--mib 256] [--small 2000] [--major 17] [--compressions none,gzip,zstd,lz4]
                                  [--rounds 3]

Starts its own PostgreSQL on 127.0.0.1, imports one large object of --mib MiB (half random bytes, half
text) and --small objects of a few bytes, dumps them with each compression and prints, per archive,
the median wall and CPU time (user + system of the command's processes: steadier on a busy machine)
of alternating rounds:

  baseline  `pg_restore --data-only -f -` to /dev/null (reads and decompresses every object, writes SQL)
  console   `recovery-console export --blobs DIR` (one file per object, each fsynced and hashed)
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import PgServerFactory, tool_env  # noqa: E402


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the finished child processes) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--compressions", default="none,gzip,zstd,lz4")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    factory = PgServerFactory()
    work = Path(tempfile.mkdtemp(prefix="bench-lo-"))
    work.chmod(0o755)
    try:
        server = factory.new(opts.major)
        server.createdb("lo")
        blob = work / "blob.bin"
        half = opts.mib << 19
        with blob.open("wb") as out:
            out.write(os.urandom(half))
            line = b"2026-12-07 08:00:00 host-17 sshd[4242]: Accepted publickey for root from 203.0.113.77\n"
            out.write((line * (half // len(line) + 1))[:half])
        blob.chmod(0o644)
        server.psql(f"SELECT lo_import('{blob}'); SELECT lo_from_bytea(0, convert_to('object ' || g, 'UTF8')) "
                    f"FROM generate_series(1, {opts.small}) g", db="lo")
        blob.unlink()
        env = tool_env(RECOVERY_CONSOLE_HOME=str(work / "home"))
        console = [sys.executable, "-m", "recovery_console.cli.main"]
        print(f"one object of {opts.mib} MiB and {opts.small} small ones, PostgreSQL {opts.major}; "
              f"load average {os.getloadavg()[0]:.2f}")
        for compression in opts.compressions.split(","):
            dump = work / f"{compression}.dump"
            level = "0" if compression == "none" else compression
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(dump), *server.conn_args("lo"))
            base: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            for n in range(opts.rounds):
                base.append(timed([str(server.tool("pg_restore")), "--data-only", "-f", "-", str(dump)], env))
                out = work / f"out-{n}"
                ours.append(timed([*console, "export", str(dump), "--blobs", str(out)], env))
                shutil.rmtree(out)
            bw, bc = (statistics.median(t[i] for t in base) for i in (0, 1))
            ow, oc = (statistics.median(t[i] for t in ours) for i in (0, 1))
            print(f"{compression:5} {dump.stat().st_size / 2**20:8.1f} MiB  pg_restore wall {bw:6.2f}s cpu {bc:6.2f}s"
                  f"  console wall {ow:6.2f}s cpu {oc:6.2f}s  ratio wall {ow / bw:4.2f}× cpu {oc / bc:4.2f}×"
                  f"  (load {os.getloadavg()[0]:.2f})")
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
