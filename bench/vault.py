"""A file vault backed up and restored as a recovery-set folder member, against tar and zstd (#18).

    python bench/vault.py [--small-files 10000] [--large-mib 1024] [--rounds 3]

Builds a vault in a temp folder: --small-files files of 200 B to 24 KiB (two thirds text cut from a
generated word list, one third random bytes, 100 to a folder) and --large-mib MiB of large files
(64 MiB each, built of 1 MiB pieces: 40 % random bytes, standing for already compressed or encrypted
attachments, 60 % generated text with the repetition of logs and exports; zstd -3 packs the whole to
about 60 %). One PostgreSQL 15 with an empty database: a set always holds its profile's database,
the vault is its folder member.

Alternates, after one untimed run of each, --rounds times:
  backup   `tar -cf - -C PARENT vault | zstd -T2 -3 -q > FILE`   vs `backup_set` (empty database + vault member)
  restore  `zstd -d -q -c FILE | tar -xf - -C DIR`               vs `extract_folder_member(..., into=DIR)`
The set's time is printed whole and for the vault member alone (its started_at/finished_at in the
manifest: walk, tar, compress, encrypt, write, fsync). Before every timed run the last restored folder is removed
and the OS's dirty pages are written out (sync), so no run pays for another's writeback. Medians, ratios to the
baseline of the same run and the load average are printed; other work on a shared machine moves the absolute
times, so the ratios are what count. Targets: vault backup <= 1.2 x baseline, restore <= 1.2 x baseline.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.sets.set_backup import backup_set  # noqa: E402
from recovery_console.engine.sets.set_catalog import SetRecord  # noqa: E402
from recovery_console.engine.sets.set_members import extract_folder_member  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.engine.state.profile_members import ProfileMembers  # noqa: E402
from recovery_console.models.profile import ConnectionMode  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402
from tests.fixtures.postgres import PgServerFactory  # noqa: E402

SECRET = "bench secret"
MIB = 1 << 20
LARGE_FILE_MIB = 64
WORDS = 4000


def text_pool(rng: random.Random, size: int) -> bytes:
    """Log-like text: lines of words from a generated vocabulary, ids and numbers (zstd -3 packs it ~4x)."""
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 11)))
                  for _ in range(WORDS)]
    lines: list[str] = []
    length = 0
    while length < size:
        line = (f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} id={rng.randint(0, 10**9)} "
                + " ".join(rng.choices(vocabulary, k=rng.randint(4, 16))) + f" amount={rng.random() * 1000:.2f}\n")
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()[:size]


def build_vault(root: Path, small_files: int, large_mib: int) -> tuple[int, int]:
    """The vault's files (see the module doc); (files, content bytes)."""
    rng = random.Random(18)
    pool = text_pool(rng, 8 * MIB)
    files = size = 0
    for i in range(small_files):
        folder = root / "small" / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        n = rng.randint(200, 24 << 10)
        if i % 3 == 2:
            data = os.urandom(n)
        else:
            start = rng.randrange(len(pool) - n)
            data = pool[start:start + n]
        (folder / f"attachment-{i:05d}.{'bin' if i % 3 == 2 else 'txt'}").write_bytes(data)
        files, size = files + 1, size + n
    (root / "large").mkdir()
    left = large_mib
    index = 0
    while left > 0:
        mib = min(LARGE_FILE_MIB, left)
        with open(root / "large" / f"export-{index:02d}.dat", "wb") as out:
            for _ in range(mib):
                if rng.random() < 0.4:
                    out.write(os.urandom(MIB))
                else:
                    start = rng.randrange(len(pool) - MIB)
                    out.write(pool[start:start + MIB])
        files, size, left, index = files + 1, size + mib * MIB, left - mib, index + 1
    return files, size


def shell(command: str) -> None:
    subprocess.run(["sh", "-c", command], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-vault-"))
    factory = PgServerFactory()
    try:
        vault = work / "vault"
        vault.mkdir()
        started = time.perf_counter()
        files, size = build_vault(vault, args.small_files, args.large_mib)
        print(f"vault: {files:,} files, {size / MIB:,.0f} MiB, built in {time.perf_counter() - started:.1f} s; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
        pg = factory.start(15)
        pg.createdb("bench_empty")
        console = Console(AppPaths(config_dir=work / "config", data_dir=work / "data"))
        (work / "target").mkdir()
        console.add_target(TargetConfig(name="t", kind="local", options={"path": str(work / "target")}))
        console.profiles.create("bench", pg.dsn("bench_empty"), target="t")
        console.profiles.set_mode("bench", ConnectionMode.DIRECT, acknowledge_direct=True)
        ProfileMembers(console.profiles).add_folder("bench", "vault", str(vault))
        baseline_file = work / "vault.tar.zst"
        restored = work / "restored"
        made: list[SetRecord] = []

        def tar_zstd() -> None:
            shell(f"tar -cf - -C {work} vault | zstd -T2 -3 -q > {baseline_file}")

        def set_backup() -> None:
            if made:  # the previous set removed: the target holds one vault at a time, as the baseline's file
                shutil.rmtree(work / "target" / "sets", ignore_errors=True)
            made[:] = [backup_set(console, "bench", secret=SECRET)]

        def unzstd_tar() -> None:
            restored.mkdir()
            shell(f"zstd -d -q -c {baseline_file} | tar -xf - -C {restored}")

        def member_restore() -> None:
            extract_folder_member(console, made[-1], "vault", SECRET, into=restored)

        member_times: list[float] = []
        pairs: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
            ("backup", tar_zstd, set_backup), ("restore", unzstd_tar, member_restore)]
        results: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _, _ in pairs}
        loads: list[float] = []
        for round_ in range(args.rounds + 1):
            for label, baseline, ours in pairs:
                times = []
                for action in (baseline, ours):
                    shutil.rmtree(restored, ignore_errors=True)  # the last restore's folder, gone untimed
                    os.sync()  # what earlier runs wrote is on disk: no run pays for another's writeback
                    start = time.perf_counter()
                    action()
                    times.append(time.perf_counter() - start)
                if label == "backup":
                    member = next(m for m in made[-1].manifest.members if m.kind == "folder")  # type: ignore[union-attr]
                    member_time = (_stamp(member.finished_at) - _stamp(member.started_at))
                if round_:
                    results[label][0].append(times[0])
                    results[label][1].append(times[1])
                    if label == "backup":
                        member_times.append(member_time)
                loads.append(os.getloadavg()[0])
                print(f"  {'warm-up' if not round_ else f'round {round_}'} {label}: baseline {times[0]:6.2f} s | "
                      f"console {times[1]:6.2f} s{f' (vault member {member_time:.2f} s)' if label == 'backup' else ''}"
                      f" | load {loads[-1]:.2f}", flush=True)
        stored = sum(made[-1].files.values())
        print(f"\nmedians of {args.rounds} alternating rounds; load {min(loads):.2f}-{max(loads):.2f} (2 shared cores)")
        print(f"sizes: baseline {baseline_file.stat().st_size / MIB:,.0f} MiB, set {stored / MIB:,.0f} MiB, "
              f"content {size / MIB:,.0f} MiB")
        for label, (base, ours) in results.items():
            b, o = statistics.median(base), statistics.median(ours)
            line = f"{label:<8} baseline {b:6.2f} s | console {o:6.2f} s ({o / b:.2f} x)"
            if label == "backup":
                m = statistics.median(member_times)
                line += f" | vault member alone {m:6.2f} s ({m / b:.2f} x)"
            print(f"{line} | target <= 1.2 x: {'PASS' if o <= 1.2 * b else 'FAIL'}")
        console.close()
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
