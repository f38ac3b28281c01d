"""Benchmark: listing a local target that holds 10,000 backups (catalog sync, no key derivation).

    python bench/list.py [--count 10000] [--dir DIR] [--repeat 3]

Makes ONE real backup with `encrypt_stream(iterations=1000)`, copies its bytes under `--count`
distinct conforming names (from `naming.backup_key`, distinct ids and timestamps) with their
.sha256 sidecars, then times `Console(AppPaths(...)).list_backups([target])`: the first sync into
an empty catalog, then a second sync with nothing changed. Each repetition uses a fresh catalog;
the best of --repeat is reported. Key derivation is counted by wrapping
`recovery_console.engine.container.format._pbkdf2` (and `derive_keys`): it must never run while listing.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.container import format as fmt
from recovery_console.engine.container.naming import backup_key
from recovery_console.engine.container.streams import sidecar_text
from recovery_console.engine.container.verify import read_metadata
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.backup import BackupMetadata

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "sample-pg18-none.dump"
SECRET = "bench-instance-secret"
TARGET_SECONDS = 2.0


def _metadata(i: int, start: datetime) -> BackupMetadata:
    created = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    return BackupMetadata(backup_id=f"{i:08x}-0000-4000-8000-{i:012x}", created_at=created, app_version="1.0.0",
                          mode="scheduled" if i % 2 else "manual", compression="none", source_name="sample.dump")


def make_target(root: Path, count: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    sink = io.BytesIO()
    result = encrypt_stream(io.BytesIO(SAMPLE.read_bytes()), sink, SECRET, _metadata(0, start), iterations=1000)
    data = sink.getvalue()
    keys = set()
    for i in range(count):
        key = backup_key(_metadata(i, start))
        keys.add(key)
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.with_name(path.name + ".sha256").write_bytes(sidecar_text(result.encrypted_sha256, path.name))
    assert len(keys) == count, "names are not distinct"


class _Counter:
    def __init__(self, name: str, fn):
        self.name, self.fn, self.calls = name, fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--dir", help="where to put the temporary files (default: the system temp dir)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    base_dir = Path(args.dir) if args.dir else None
    if base_dir:
        base_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rc-bench-list-", dir=base_dir))
    failed = False
    try:
        load = os.getloadavg()
        print(f"load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min), cpus: {os.cpu_count()}")
        target = work / "target"
        t0 = time.perf_counter()
        make_target(target, args.count)
        files = sum(1 for _ in (target / "backups").iterdir())
        print(f"target {target}: {files} files ({args.count} backups + sidecars), made in "
              f"{time.perf_counter() - t0:.1f} s")

        pbkdf2 = _Counter("_pbkdf2", fmt._pbkdf2)
        derive = _Counter("derive_keys", fmt.derive_keys)
        fmt._pbkdf2, fmt.derive_keys = pbkdf2, derive  # type: ignore[assignment]

        first, second, listed = [], [], []
        try:
            for rep in range(args.repeat):
                home = work / f"home{rep}"
                console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
                t = time.perf_counter()
                records, results = console.list_backups([str(target)])
                first.append(time.perf_counter() - t)
                assert results[0].added == args.count, results
                listed.append(len(records))
                t = time.perf_counter()
                records2, results2 = console.list_backups([str(target)])
                second.append(time.perf_counter() - t)
                assert results2[0].unchanged == args.count and results2[0].added == 0, results2
                assert len(records2) == args.count
            listing_calls = (pbkdf2.calls, derive.calls)
            # self-test: the counters do see a derivation made through the engine
            with open(target / records2[0].key, "rb") as stream:
                read_metadata(stream, SECRET)
            probe_calls = pbkdf2.calls - listing_calls[0]
            pbkdf2.calls, derive.calls = listing_calls
        finally:
            fmt._pbkdf2, fmt.derive_keys = pbkdf2.fn, derive.fn  # type: ignore[assignment]

        rows = [
            ("list_backups, first sync (empty catalog)", min(first), first),
            ("list_backups, second sync (unchanged)", min(second), second),
        ]
        print()
        print(f"{'run (best of ' + str(args.repeat) + ')':<44} {'time s':>7} {'per backup':>11} {'target':>8}  "
              f"result   all runs s")
        print("-" * 100)
        for name, best, runs in rows:
            verdict = "PASS" if best <= TARGET_SECONDS else "FAIL"
            failed |= verdict == "FAIL"
            print(f"{name:<44} {best:>7.3f} {best / args.count * 1e6:>8.0f} us {'<= ' + str(TARGET_SECONDS):>8}  "
                  f"{verdict:<8} {'/'.join(f'{s:.3f}' for s in runs)}")
        kdf_ok = pbkdf2.calls == 0 and derive.calls == 0
        failed |= not kdf_ok
        print(f"{'records listed':<44} {min(listed):>7}")
        print(f"{'(counter self-test: read_metadata counted)':<44} {probe_calls:>7} _pbkdf2 call(s)")
        print(f"{'key derivations while listing':<44} {pbkdf2.calls:>7} {'':>11} {'== 0':>8}  "
              f"{'PASS' if kdf_ok else 'FAIL'}     (_pbkdf2 calls {pbkdf2.calls}, derive_keys calls {derive.calls})")
        load = os.getloadavg()
        print(f"\nload after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
        print("OVERALL:", "FAIL" if failed else "PASS")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
