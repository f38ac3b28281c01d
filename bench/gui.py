"""Benchmark: desktop console start-up time and GUI-thread responsiveness during a large verify.

    python bench/gui.py [--size-gib 2] [--runs 5] [--dir DIR] [--iterations N]

1. Start-to-first-window: a fresh `python` process (QT_QPA_PLATFORM=offscreen, a demo home made
   by `recovery_console.engine.demo.set_up`) runs `recovery_console.ui.app.start()` and reports
   the moment the shown main window's first Expose event arrives (it can be drawn). The time
   is measured from just before the process is spawned (so interpreter start-up and every import
   count) to that moment, with the system-wide monotonic clock. Target: <= 1.5 s (median of --runs).

2. Worst GUI-thread stall during a verify: a backup of --size-gib GiB (a real pg_dump archive's
   header and TOC, tests/data/sample-pg18-none.dump, followed by filler; compression none; the
   default 600,000 PBKDF2 iterations unless --iterations) is verified through the real
   `VerifyDialog` (its Verify button, its job, its progress panel) while a 10 ms QTimer ticks on
   the GUI thread; the largest gap between ticks is the worst stall. Target: <= 100 ms.

Prints PASS/FAIL per target; exits 1 if either fails.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.synthetic import make_large_backup  # noqa: E402

SECRET = "bench-instance-secret"
START_TARGET = 1.5
STALL_TARGET = 0.100
GIB = 1 << 30

CHILD = r"""
import os, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from recovery_console.ui import app as ui_app

qapp, window = ui_app.start()


def report(exposed):
    print(f"shown {time.monotonic():.6f} {int(exposed)}", flush=True)
    window.runner.wait(30000)  # let the first listing end, then leave without the interpreter's teardown
    os._exit(0)


class FirstExpose(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Expose and watched.isExposed():
            report(True)
        return False


watcher = FirstExpose()
handle = window.windowHandle()
if handle.isExposed():
    report(True)
handle.installEventFilter(watcher)
QTimer.singleShot(10000, lambda: report(False))
sys.exit(qapp.exec())
"""


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def measure_start(home: Path, runs: int) -> list[float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RECOVERY_CONSOLE_HOME": str(home),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    times = []
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=120)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("shown ")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(f"the console did not start (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        _, when, exposed = line.split()
        if exposed != "1":
            raise SystemExit("the main window was not exposed within 10 s")
        times.append(float(when) - started)
    return times


def measure_stall(path: Path, home: Path) -> tuple[float, list[float], float, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest

    from recovery_console.engine.console import Console
    from recovery_console.engine.state.paths import AppPaths
    from recovery_console.ui.app import application
    from recovery_console.ui.dialogs.verify import VerifyDialog
    from recovery_console.ui.secrets import FixedSecret

    application()
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    dialog = VerifyDialog(console, path, secrets=FixedSecret(SECRET))
    dialog.show()
    outcome: list[object] = []
    loop = QEventLoop()
    dialog.verified.connect(lambda result: (outcome.append(result), loop.quit()))
    dialog.verify_failed.connect(lambda error: (outcome.append(error), loop.quit()))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    ticks.append(time.perf_counter())
    started = time.perf_counter()
    QTest.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    loop.exec()
    elapsed = time.perf_counter() - started
    ticks.append(time.perf_counter())
    timer.stop()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    dialog.close()
    return max(gaps), gaps, elapsed, outcome[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=None, help="PBKDF2 iterations (default: the format's)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the large backup")
    args = parser.parse_args()

    from recovery_console.engine import demo
    from recovery_console.engine.container import format as fmt

    work = Path(tempfile.mkdtemp(prefix="rc-bench-gui-", dir=args.dir))
    try:
        home = work / "home"
        demo.set_up(home)
        times = measure_start(home, args.runs)
        median = statistics.median(times)
        start_ok = median <= START_TARGET
        print(f"start-to-first-window: median {median:.2f} s, best {min(times):.2f} s, worst {max(times):.2f} s "
              f"over {len(times)} runs (target <= {START_TARGET} s): {_verdict(start_ok)}", flush=True)

        size = int(args.size_gib * GIB)
        iterations = args.iterations or fmt.DEFAULT_ITERATIONS
        path = work / "large.enc"
        made = time.perf_counter()
        make_large_backup(path, size, SECRET, iterations, name="bench.dump")
        print(f"(made a {path.stat().st_size / GIB:.2f} GiB backup in {time.perf_counter() - made:.1f} s, "
              f"{iterations} PBKDF2 iterations)", flush=True)
        worst, gaps, elapsed, result = measure_stall(path, home)
        passed = getattr(result, "ok", False)
        if not passed:
            print(f"the verify did not pass: {result}", flush=True)
        ordered = sorted(gaps)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        stall_ok = passed and worst <= STALL_TARGET
        print(f"GUI-thread worst stall during a {size / GIB:.2f} GiB verify: {worst * 1000:.1f} ms "
              f"(p99 {p99 * 1000:.1f} ms over {len(gaps)} ticks of 10 ms; verify {elapsed:.1f} s, "
              f"{size / elapsed / 1e6:.0f} MB/s) (target <= {STALL_TARGET * 1000:.0f} ms): {_verdict(stall_ok)}",
              flush=True)
        return 0 if start_ok and stall_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
