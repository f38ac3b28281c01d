"""Benchmark: `recovery-console run-due` with nothing due (issue 16: ≤ 0.3 s wall; the OS scheduler calls it often).

    python bench/run_due.py [--profiles 20] [--history 5000] [--runs 15]

Sets up a private home with --profiles profiles, each with a daily policy whose latest slot a run
already served, and a run history of --history entries, then times whole `run-due` processes (the
CLI, as the systemd service starts it) and, for scale, a bare `python -c pass` and `--version`. Bytecode is cached
in a private folder (PYTHONPYCACHEPREFIX) after one untimed run, as an installed console has it; the
best and the median of --runs are printed, with the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recovery_console.engine.schedule_times import latest_slot  # noqa: E402
from recovery_console.engine.state.named_store import NamedStore  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.engine.state.run_history import RunHistory, RunRecord  # noqa: E402
from recovery_console.engine.state.served_slots import ServedSlots  # noqa: E402
from recovery_console.models.policy import Frequency, Policy, Schedule  # noqa: E402
from recovery_console.models.profile import ConnectionMode, Profile  # noqa: E402

TARGET_SECONDS = 0.3


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _home(root: Path, profiles: int, history: int) -> None:
    paths = AppPaths(root / "config", root / "data").ensure()
    store = NamedStore(paths.config_dir / "profiles.json", "profile", Profile.from_dict)
    now = datetime.now(UTC)
    runs = RunHistory(paths)
    records = {}
    for i in range(profiles):
        schedule = Schedule(Frequency.DAILY, hour=i % 24, minute=7, timezone="Europe/Berlin")
        policy = Policy(schedule=schedule, since=_iso(now - timedelta(days=30)))
        profile = Profile(f"db{i:03d}", f"postgresql://db{i}.internal/app", ConnectionMode.DIRECT, True,
                          target="vault", policy=policy)
        records[profile.name] = profile
        slot = latest_slot(schedule, now)
        assert slot is not None
        done = RunRecord.start("scheduled", profile.name, "vault", _iso(slot), _iso(slot))
        runs.append(done.finished("ok", 12.5, bytes=10_000_000))
        ServedSlots(paths).mark(profile.name, _iso(slot))
    store.save(records)
    with open(runs.file, "ab") as handle:  # older runs, written in bulk
        line = runs.file.read_bytes().splitlines()[0]
        for i in range(max(0, history - profiles)):
            handle.write(line.replace(b'"run_id": "', f'"run_id": "old{i}'.encode()) + b"\n")


def _time(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0 or "not due" not in done.stdout:
            raise SystemExit(f"run-due failed ({done.returncode}): {done.stdout}{done.stderr}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-run-due-"))
    try:
        _home(work / "home", args.profiles, args.history)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(RECOVERY_CONSOLE_HOME=str(work / "home"), PYTHONPYCACHEPREFIX=str(work / "pycache"))
        run_due = [sys.executable, "-m", "recovery_console.cli.main", "run-due"]
        _time(run_due, env, 1)  # untimed: compiles the bytecode cache
        console = _time(run_due, env, args.runs)
        bare = [sys.executable, "-c", "pass"]
        python = [_time_bare(bare, env) for _ in range(args.runs)]
        version = [_time_bare(run_due[:-1] + ["--version"], env) for _ in range(args.runs)]
        best, median = min(console), statistics.median(console)
        verdict = "PASS" if median <= TARGET_SECONDS else "FAIL"
        print(f"run-due, nothing due ({args.profiles} profiles, {args.history} runs in the history), "
              f"{args.runs} processes")
        print(f"{'':<28} {'best s':>7} {'median s':>9}")
        print(f"{'run-due':<28} {best:>7.3f} {median:>9.3f}   target median <= {TARGET_SECONDS}  {verdict}")
        print(f"{'python -c pass':<28} {min(python):>7.3f} {statistics.median(python):>9.3f}   "
              f"(interpreter start alone; ratio of medians {median / statistics.median(python):.1f}x)")
        print(f"{'recovery-console --version':<28} {min(version):>7.3f} {statistics.median(version):>9.3f}   "
              f"(the floor of every command; ratio of medians {median / statistics.median(version):.1f}x)")
        load = os.getloadavg()
        print(f"load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) on {os.cpu_count()} cores")
        return 0 if verdict == "PASS" else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _time_bare(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
