"""Benchmark: `backup upload` of a plain pg_dump archive and of a vault's tar, against encrypting the same bytes once.

    python bench/upload_import.py [--size-mib 256] [--dir DIR]

An import reads its input twice (hash, then encrypt; a tar is also checked member by member) and then
reads the new backup back from the target for a full verify. Baselines, in the same run and process:

  dump  Console.upload(FILE.dump)       vs  Console.create_backup(FILE.dump) (`backup create --from`: one pass)
  tar   Console.upload(FILE.tar.gz)     vs  `gzip -dc FILE.tar.gz` into Console's encrypt_stream to /dev/null

The archive is tests/data/sample-pg18-none.dump's TOC with random filler (incompressible, the worst
case for the compressor); the vault is one random file of the same size plus 2,000 small files. Wall
and CPU seconds (this process's threads and children) are printed with their ratios, ours over the
baseline (above 1.0: slower), and the load average. Nothing is dropped from the page cache.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.container.writer import encrypt_stream  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.models.backup import BackupMetadata  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402
from tests.fixtures.synthetic import PgDumpLike  # noqa: E402

SECRET = "bench-instance-secret"


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu


def _dump(path: Path, size: int) -> None:
    source = PgDumpLike(size)
    with open(path, "wb") as out:
        while data := source.read(1 << 20):
            out.write(data)


def _vault(root: Path, size: int) -> None:
    root.mkdir()
    with open(root / "big.bin", "wb") as out:
        for _ in range(size >> 20):
            out.write(os.urandom(1 << 20))
    small = root / "small"
    small.mkdir()
    for i in range(2000):
        (small / f"f{i:05}.txt").write_text(f"attachment {i}\n" * 20)


class _Null:
    def write(self, data: bytes | memoryview) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-import-", dir=args.dir))
    try:
        size = args.size_mib << 20
        console = Console(AppPaths(config_dir=work / "config", data_dir=work / "data"))
        (work / "target").mkdir()
        console.add_target(TargetConfig(name="t", kind="local", options={"path": str(work / "target")}))
        dump = work / "big.dump"
        _dump(dump, size)
        _vault(work / "vault", size)
        tar = work / "vault.tar.gz"
        subprocess.run(["tar", "-czf", str(tar), "-C", str(work / "vault"), "."], check=True)

        def create() -> None:
            with open(dump, "rb") as stream:
                console.create_backup(stream, "t", SECRET, source_name="big.dump", source_size=size)

        def gunzip_encrypt() -> None:
            with subprocess.Popen(["gzip", "-dc", str(tar)], stdout=subprocess.PIPE) as gz:
                assert gz.stdout is not None
                metadata = BackupMetadata(backup_id="b", created_at="2026-01-01T00:00:00Z", app_version="0",
                                          compression="zstd")
                encrypt_stream(gz.stdout, _Null(), SECRET, metadata)

        rows = [("dump", lambda: console.upload(dump, "t", SECRET), create),
                ("tar.gz", lambda: console.upload(tar, "t", SECRET), gunzip_encrypt)]
        print(f"input {args.size_mib} MiB; load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        for name, ours, base in rows:
            base_wall, base_cpu = timed(base)
            our_wall, our_cpu = timed(ours)
            print(f"{name:<7} import {our_wall:6.2f} s wall {our_cpu:6.2f} s CPU | baseline {base_wall:6.2f} s wall "
                  f"{base_cpu:6.2f} s CPU | ratio wall {our_wall / base_wall:4.2f} CPU {our_cpu / base_cpu:4.2f}")
        print(f"load average after {os.getloadavg()[0]:.2f}")
        console.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
