"""Benchmark: full and quick verify of a >= 2 GiB backup against plain hashing / raw AES-GCM baselines.

    python bench/verify.py [--size-gib 2] [--dir DIR] [--repeat 3]

Builds a plaintext pg_dump archive (tests/data/sample-pg18-none.dump followed by filler, so the
TOC parses and the sentinel hash covers every byte), encrypts it once with
`encrypt_stream(..., iterations=600000)`, then times, each in a fresh subprocess (so the key
derivation is never served from the in-process cache and peak RSS is the run's own):

  full   read_stream(full=True, hash_ciphertext=False)   vs  hashlib.sha256 over the plaintext file (8 MiB readinto)
  quick  read_stream(full=False, hash_ciphertext=False)  vs  single-thread record read + AESGCM.decrypt_into
  (the two targets of issue #2, whose full verify is "tags, order, sentinel, plaintext SHA-256, TOC
  parse", with decrypt and parsing hidden behind that one hash on the second core)

Console.verify's full mode also hashes the file itself to check its .sha256 sidecar: a second
SHA-256 pass over as many bytes, which on two cores cannot hide behind the first. It is timed and
printed too (read_stream(full=True)), as information; so are the other combinations.

Every measurement runs --repeat times (round-robin over the modes, so outside load hits each alike);
the median is reported, split into the fixed part (up to the first payload byte: the PBKDF2 key
derivation, the same on both sides) and the per-byte rest, with the largest peak RSS (VmHWM).
Ratios are throughputs, ours over the baseline's (baseline seconds / our seconds): 1.0 means as
fast, above 1.0 faster; a target ">= 1.0" passes when the console is at least as fast. The quick
verify's verdict (issue 19: >= 1.0, stretch 1.5) is taken on the whole run's medians.
Nothing is dropped from the page cache: both sides read warm, cached files.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
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
SAMPLE = ROOT / "tests" / "data" / "sample-pg18-none.dump"
SECRET = "bench-instance-secret"
ITERATIONS = 600_000
BLOCK = 8 << 20
MB = 1_000_000
RSS_LIMIT_MB = 150

TARGET_FULL = 0.9
TARGET_QUICK = 1.0
STRETCH_QUICK = 1.5


# ---------------------------------------------------------------- child side: one measurement


def _peak_rss_mb() -> tuple[float, float]:
    """(ru_maxrss, VmHWM) of this process in MB (10^6 bytes)."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # Linux: KiB
    hwm = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return maxrss, hwm


def _run_ours(enc: Path, full: bool, hash_ciphertext: bool) -> dict:
    from recovery_console.engine.container.verify import read_stream
    from recovery_console.engine.progress import Phase, Reporter

    payload_start: list[float] = []

    class Marking(Reporter):
        """Notes when the payload phase starts: everything before it (key derivation) is the fixed cost."""

        def start(self, phase: Phase, total: int | None = None) -> None:
            if phase in (Phase.VERIFY, Phase.DECRYPT):
                payload_start.append(time.perf_counter())
            super().start(phase, total)

    kwargs = {} if hash_ciphertext else {"hash_ciphertext": False}
    start = time.perf_counter()
    with open(enc, "rb") as stream:
        report = read_stream(stream, SECRET, full=full, reporter=Marking(), **kwargs)
    end = time.perf_counter()
    assert report.payload_chunks > 0
    if full:
        assert report.archive is not None and report.archive_length is not None
    return {"seconds": end - start, "fixed": payload_start[0] - start,
            "bytes": report.archive_length or report.payload_length}


def _run_base_full(plain: Path) -> dict:
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    sha = hashlib.sha256()
    total = 0
    start = time.perf_counter()
    with open(plain, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            sha.update(view[:n])
            total += n
    sha.hexdigest()
    return {"seconds": time.perf_counter() - start, "bytes": total}


def _run_base_quick(enc: Path) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from recovery_console.engine.container import format as fmt

    size = enc.stat().st_size
    start = time.perf_counter()
    with open(enc, "rb", buffering=0) as f:
        preamble = f.read(fmt.PREAMBLE_SIZE)
        header = fmt.Header.parse(preamble)
        keys = fmt.derive_keys(SECRET, header)  # the same key derivation read_stream pays
        keys.check(preamble[fmt.HEADER_SIZE:])
        payload_start = time.perf_counter()
        aead = AESGCM(keys.payload_key)
        aad = header.pack()
        sealed = bytearray(header.chunk_size + fmt.TAG_SIZE)
        plain = bytearray(header.chunk_size)
        prefix = bytearray(fmt.LENGTH_PREFIX_SIZE)
        offset = fmt.PREAMBLE_SIZE
        index = 0
        payload = 0
        while offset < size:
            f.readinto(prefix)
            length = int.from_bytes(prefix, "big")
            view = memoryview(sealed)[:length]
            got = 0
            while got < length:
                got += f.readinto(view[got:])
            offset += fmt.LENGTH_PREFIX_SIZE + length
            final = offset == size
            aead.decrypt_into(fmt.nonce(index, final), view, aad, memoryview(plain)[: length - fmt.TAG_SIZE])
            if index and not final:
                payload += length - fmt.TAG_SIZE
            index += 1
    return {"seconds": time.perf_counter() - start, "fixed": payload_start - start, "bytes": payload}


def child(args: argparse.Namespace) -> None:
    mode = args.child
    if mode == "ours-full":
        result = _run_ours(args.enc, True, True)
    elif mode == "ours-full-nohash":
        result = _run_ours(args.enc, True, False)
    elif mode == "ours-quick":
        result = _run_ours(args.enc, False, True)
    elif mode == "ours-quick-nohash":
        result = _run_ours(args.enc, False, False)
    elif mode == "base-full":
        result = _run_base_full(args.plain)
    elif mode == "base-quick":
        result = _run_base_quick(args.enc)
    elif mode == "kdf":
        start = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", SECRET.encode(), b"\0" * 16, ITERATIONS, 32)
        result = {"seconds": time.perf_counter() - start, "bytes": 0}
    else:
        raise SystemExit(f"unknown child mode {mode}")
    result["maxrss_mb"], result["vmhwm_mb"] = _peak_rss_mb()
    result["cpu"] = sum(os.times()[:2])  # user + system of all threads (the run dominates it)
    print(json.dumps(result))


# ---------------------------------------------------------------- parent side


def _make_backup(folder: Path, size: int) -> tuple[Path, Path, float]:
    from recovery_console.engine.container.writer import encrypt_stream
    from recovery_console.models.backup import BackupMetadata

    plain = folder / "bench-plain.dump"
    enc = folder / "bench.enc"
    head = SAMPLE.read_bytes()
    filler = os.urandom(BLOCK)
    with open(plain, "wb") as f:
        f.write(head)
        left = size - len(head)
        i = 0
        while left > 0:
            # vary each block a little so no two 8 MiB blocks are byte-identical
            block = i.to_bytes(8, "big") + filler[8:]
            f.write(block[:left])
            left -= min(left, len(block))
            i += 1
    metadata = BackupMetadata(backup_id="00000000-0000-4000-8000-000000000001", created_at="2025-01-01T00:00:00Z",
                              app_version="bench", compression="none", source_name=plain.name)
    start = time.perf_counter()
    with open(plain, "rb") as src, open(enc, "wb") as sink:
        encrypt_stream(src, sink, SECRET, metadata, source_size=size, iterations=ITERATIONS)
    return plain, enc, time.perf_counter() - start


def _warm(path: Path) -> None:
    buf = bytearray(BLOCK)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def _idle_fraction(seconds: float = 1.0) -> float:
    def snap() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    idle0, total0 = snap()
    time.sleep(seconds)
    idle1, total1 = snap()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(max_wait: float, threshold: float = 0.85) -> float:
    """On a shared machine, wait (up to max_wait s) for a second in which the CPUs are mostly idle."""
    deadline = time.monotonic() + max_wait
    idle = _idle_fraction()
    while idle < threshold and time.monotonic() < deadline:
        idle = _idle_fraction()
    return idle


def _measure_once(mode: str, plain: Path, enc: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--enc", str(enc), "--plain", str(plain)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summarise(runs: list[dict]) -> dict:
    """Medians over the rounds: whole run, its fixed part (up to the first payload byte: key derivation) and the
    per-byte rest."""
    mid = statistics.median
    return {
        "seconds": mid(r["seconds"] for r in runs),
        "fixed": mid(r.get("fixed", 0.0) for r in runs),
        "per_byte": mid(r["seconds"] - r.get("fixed", 0.0) for r in runs),
        "all": [r["seconds"] for r in runs],
        "bytes": runs[0]["bytes"],
        "cpu": mid(r["cpu"] for r in runs),
        "idle": mid(r["idle"] for r in runs),
        # VmHWM is this process's own peak; ru_maxrss is not used because Linux carries the
        # parent's peak over fork+exec into it.
        "rss": max(r["vmhwm_mb"] for r in runs),
    }


def _supports_hash_flag() -> bool:
    from recovery_console.engine.container.verify import read_stream

    return "hash_ciphertext" in inspect.signature(read_stream).parameters


def parent(args: argparse.Namespace) -> int:
    size = int(args.size_gib * (1 << 30))
    base_dir = Path(args.dir) if args.dir else None
    if base_dir:
        base_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="rc-bench-verify-", dir=base_dir))
    failed = False
    try:
        print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
              f"(1/5/15 min), cpus: {os.cpu_count()}")
        print(f"building {size / (1 << 30):.2f} GiB plaintext + backup in {folder} ...", flush=True)
        plain, enc, enc_time = _make_backup(folder, size)
        print(f"encrypt_stream (compression none, {ITERATIONS} iterations): {enc_time:.2f} s, "
              f"{enc.stat().st_size / MB:.0f} MB ciphertext")
        print("page cache: NOT dropped; both files are read once to warm it, so every run (ours and the "
              "baselines) reads from cache.")
        _warm(plain)
        _warm(enc)

        modes = ["base-full", "ours-full", "base-quick", "ours-quick", "kdf"]
        has_flag = _supports_hash_flag()
        if has_flag:
            modes += ["ours-full-nohash", "ours-quick-nohash"]
        if args.quick_only:
            modes = ["base-quick", "ours-quick-nohash", "kdf"]
        runs: dict[str, list[dict]] = {mode: [] for mode in modes}
        for rep in range(args.repeat):  # round-robin, so a burst of outside load hits every mode alike
            print(f"  round {rep + 1}/{args.repeat}: {', '.join(modes)}  (load {os.getloadavg()[0]:.2f})", flush=True)
            for mode in modes:
                idle = wait_for_quiet(args.quiet_wait) if args.quiet_wait > 0 else 1.0
                runs[mode].append({**_measure_once(mode, plain, enc), "idle": idle})
        results = {mode: _summarise(r) for mode, r in runs.items()}

        def row(name: str, r: dict) -> str:
            mbs = r["bytes"] / MB / r["per_byte"] if r["bytes"] and r["per_byte"] > 0 else 0.0
            runs = "/".join(f"{s:.2f}" for s in r["all"])
            return (f"{name:<38} {r['seconds']:>7.3f} {r['fixed']:>6.3f} {r['per_byte']:>7.3f} {mbs:>7.0f} "
                    f"{r['cpu']:>6.2f} {r['rss']:>7.1f} {100 * r['idle']:>5.0f}%  {runs}")

        print()
        title = f"run (median of {args.repeat})"
        print(f"{title:<38} {'wall s':>7} {'fixed':>6} {'bytes s':>7} {'MB/s':>7} {'cpu s':>6} {'RSS MB':>7} "
              f"{'idle':>6}  all runs s")
        print("-" * 100)
        labels = [
            ("base-full", "baseline: sha256 of plaintext file"),
            ("ours-full-nohash", "ours: full (tags, hashes, TOC)"),
            ("ours-full", "ours: full + file hash (console)"),
            ("base-quick", "baseline: 1-thread decrypt_into"),
            ("ours-quick-nohash", "ours: quick (tags only, as the console)"),
            ("ours-quick", "ours: quick + ciphertext hash"),
            ("kdf", "(PBKDF2 600k alone, in every ours run)"),
        ]
        for mode, label in labels:
            if mode in results:
                print(row(label, results[mode]))
        print("(MB = 10^6 bytes; wall = whole run; fixed = up to the first payload byte (header, PBKDF2 600k key\n"
              " derivation, commitment), the same work on both sides; bytes s = wall - fixed, the per-byte part, over\n"
              " which MB/s is taken; RSS = largest VmHWM of the runs, whole child process incl. interpreter and\n"
              " imports; cpu s = user+sys of the child, all threads; idle = share of both CPUs idle in the second\n"
              " before a run started)")

        checks = []
        def ratio(base: str, ours: str, target: float, what: str, required: bool = True) -> None:
            """Throughput of ours over the baseline's (= baseline time / our time): >= target passes."""
            for part, label in (("seconds", "whole run"), ("per_byte", "per-byte part")):
                r = results[base][part] / results[ours][part]
                decisive = required and part == "seconds"
                verdict = ("PASS" if r >= target else "FAIL") if decisive else (
                    "info, meets" if r >= target else "info, below")
                checks.append((f"{what}, {label}: throughput ours/baseline", f"{r:.3f}", f">= {target}", verdict))

        if args.quick_only:
            ratio("base-quick", "ours-quick-nohash", TARGET_QUICK, "quick verify (tags only)")
            ratio("base-quick", "ours-quick-nohash", STRETCH_QUICK, "quick, stretch", required=False)
        elif has_flag:
            ratio("base-full", "ours-full-nohash", TARGET_FULL, "full verify (tags, hashes, TOC)")
            ratio("base-full", "ours-full", TARGET_FULL, "full + sidecar check (console)",
                  required=False)
            ratio("base-quick", "ours-quick-nohash", TARGET_QUICK, "quick verify (tags only)")
            ratio("base-quick", "ours-quick", TARGET_QUICK, "quick verify + ciphertext hash", required=False)
        else:
            ratio("base-full", "ours-full", TARGET_FULL, "full verify")
        if has_flag and not args.quick_only:
            cost = results["ours-full"]["seconds"] / results["ours-full-nohash"]["seconds"]
            checks.append(("full: time with / without ciphertext hash", f"{cost:.3f}", "-", "info"))
            cost = results["ours-quick"]["seconds"] / results["ours-quick-nohash"]["seconds"]
            checks.append(("quick: time with / without ciphertext hash", f"{cost:.3f}", "-", "info"))
        for mode in [m for m in modes if m.startswith("ours")]:
            rss = results[mode]["rss"]
            checks.append((f"peak RSS {mode}", f"{rss:.1f} MB", f"<= {RSS_LIMIT_MB} MB",
                           "PASS" if rss <= RSS_LIMIT_MB else "FAIL"))

        print()
        print(f"{'check':<66} {'value':>10} {'target':>11}  result")
        print("-" * 100)
        for name, value, target, verdict in checks:
            print(f"{name:<66} {value:>10} {target:>11}  {verdict}")
            failed |= verdict == "FAIL"
        print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
        print("OVERALL:", "FAIL" if failed else "PASS")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--dir", help="where to put the temporary files (default: the system temp dir)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=30.0,
                        help="before each run wait up to this many seconds for a mostly idle second (shared machines)")
    parser.add_argument("--quick-only", action="store_true",
                        help="only the quick verify against raw AES-GCM (the full modes need the filler to be "
                             "archive data blocks, which the full verify now walks)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--enc", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plain", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if args.size_gib < 2:
        print("note: the target is defined for >= 2 GiB backups", file=sys.stderr)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
