"""The chaos suite's tools: run the console as a real process, kill it at a moment chosen by its own
progress, and look for what it left behind.

- `Child`: `python -m recovery_console.cli.main …` with stderr on a pseudo-terminal, so the console
  draws its progress line (phase, percent, bytes) and the test can wait for a given phase and amount.
- `scan`: walks folders for leftovers: files named *.part, archive.dump or pgpass, any file holding
  the pg_dump magic "PGDMP" (plaintext), and any file holding one of the given secrets.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PLAINTEXT_MAGIC = b"PGDMP"
SUSPECT_NAMES = ("*.part", "archive.dump", "toc.dump", "pgpass")
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
PHASES = ("derive-key", "read", "encrypt", "upload", "download", "verify", "decrypt", "sync", "dump", "restore",
          "check", "swap")
# TerminalProgress: "\r{phase:<10} {percent or blanks} {bytes:>10} {rate}/s  ETA …"
PROGRESS = re.compile(r"(" + "|".join(PHASES) + r")\s+(?:([\d.]+)%)?\s+([\d.]+) (B|KiB|MiB|GiB|TiB)\s")
MiB = 1 << 20


@dataclass(frozen=True)
class Progress:
    phase: str
    fraction: float | None
    done: int


class KillPointMissed(AssertionError):
    """The console ended (or never got there) before the moment the test meant to kill it at."""


class Child:
    """One console process; its stderr is a pty (progress is drawn only on a terminal), stdout a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        self.argv = argv
        self.stdout_path = log_dir / f"{name}.stdout"
        master, slave = pty.openpty()
        with open(self.stdout_path, "wb") as stdout:
            self.proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", *argv], env=env,
                                         stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave, cwd=log_dir)
        os.close(slave)
        self._master = master
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                data = b""
            if not data:
                break
            with self._lock:
                self._buf += data
        os.close(self._master)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        with self._lock:
            return self._buf.decode("utf-8", "replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text("utf-8", "replace")

    def progress(self) -> list[Progress]:
        return [Progress(m[1], float(m[2]) / 100 if m[2] else None, int(float(m[3]) * UNITS[m[4]]))
                for m in PROGRESS.finditer(self.stderr())]

    def reached(self, phase: str, fraction: float | None = None, done: int | None = None) -> bool:
        """Whether the console has shown `phase` with at least `fraction` of its total, or `done` bytes."""
        for p in self.progress():
            if p.phase != phase:
                continue
            if fraction is not None and (p.fraction is None or p.fraction < fraction):
                continue
            if done is not None and p.done < done:
                continue
            return True
        return False

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def describe(self) -> str:
        tail = self.stderr()[-1500:].replace("\r", "\n")
        return f"`{' '.join(self.argv)}` (exit {self.proc.poll()}):\n{tail}"


def wait_for(child: Child, condition: Callable[[], bool], what: str, timeout: float = 90.0,
             step: float = 0.005) -> None:
    """Poll `condition` until it holds while the console still runs; KillPointMissed if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            if child.proc.poll() is not None:
                break
            return
        if child.proc.poll() is not None:
            break
        time.sleep(step)
    raise KillPointMissed(f"never saw '{what}' while the console ran: {child.describe()}")


# --- processes -----------------------------------------------------------------------------------

def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, …)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _ppid(int(entry.name))
            if ppid is not None:
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def has_descendant(child: Child, name: str) -> bool:
    return any(process_name(pid) == name for pid in descendants(child.pid))


@dataclass
class KillOutcome:
    """What happened when the console was signalled."""

    signal: int
    exited_in_time: bool
    returncode: int | None
    survivors: list[str] = field(default_factory=list)


def kill(child: Child, sig: int, exit_timeout: float = 30.0) -> KillOutcome:
    """Signal the console (only it, as `kill PID`, `timeout` or systemd's stop would), wait for it, then
    kill -9 whatever it started that is still running, as a reboot would; those are reported."""
    if child.proc.poll() is not None:
        raise KillPointMissed(f"the console ended before the kill: {child.describe()}")
    below = descendants(child.pid)
    os.kill(child.pid, sig)
    exited = True
    try:
        child.proc.wait(timeout=exit_timeout)
    except subprocess.TimeoutExpired:
        exited = False
        child.proc.kill()
        child.proc.wait(timeout=30)
    deadline = time.monotonic() + 3
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = []
    for pid in below:
        if alive(pid):
            survivors.append(f"{process_name(pid)} (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    child._reader.join(timeout=10)
    return KillOutcome(sig, exited, child.proc.returncode, survivors)


# --- leftovers on disk ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _contains(path: Path, needles: dict[str, bytes]) -> list[str]:
    """Names of the needles found in the file (read in blocks that overlap by the longest needle)."""
    longest = max((len(n) for n in needles.values()), default=1)
    found: set[str] = set()
    tail = b""
    try:
        with open(path, "rb") as handle:
            while block := handle.read(4 * MiB):
                window = tail + block
                found.update(name for name, needle in needles.items() if needle in window)
                tail = window[-(longest - 1):] if longest > 1 else b""
    except OSError:
        return []
    return sorted(found)


def scan(roots: Iterable[Path], secrets: dict[str, str], allowed_plaintext: Iterable[Path] = ()) -> list[Finding]:
    """Every suspect file under `roots`: by name (*.part, archive.dump, toc.dump, pgpass), by content (the pg_dump
    magic, outside `allowed_plaintext`; any of `secrets`, by their name)."""
    allowed = {Path(p).resolve() for p in allowed_plaintext}
    needles = {f"the {name}": value.encode("utf-8") for name, value in secrets.items()}
    findings = []
    seen: set[Path] = set()
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                real = path.resolve()
                if real in seen or not path.is_file() or path.is_symlink():
                    continue
                seen.add(real)
                for pattern in SUSPECT_NAMES:
                    if fnmatch.fnmatch(name, pattern):
                        findings.append(Finding(path, f"a leftover file named {pattern}"))
                content = dict(needles)
                if real not in allowed:
                    content["plaintext (pg_dump magic PGDMP)"] = PLAINTEXT_MAGIC
                findings += [Finding(path, f"holds {what}") for what in _contains(path, content)]
    return findings
