"""A real X session for the walk: Xvfb with openbox, the console started on it, and xdotool to drive it.

Everything here reads the desktop the way a user sees it (window titles, mapped windows, the
screen as a PNG) or the console's own state files (the audit log); never the console's objects.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.audit_entry import AuditEntry
from recovery_console.engine.state.paths import AppPaths

TOOLS = ("Xvfb", "openbox", "xdotool", "xwininfo", "import")
ROOT = Path(__file__).resolve().parents[2]


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def xvfb(size: str = "1024x768") -> Iterator[str]:
    """A private X display (its number chosen by Xvfb itself) with openbox managing its windows."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                              pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    manager = None
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        display = f":{number}"
        manager = subprocess.Popen(["openbox"], env={**os.environ, "DISPLAY": display},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        yield display
    finally:
        for process in (manager, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@dataclass
class XSession:
    """The console running on `display` over the home `home`; screenshots go to `shots`."""

    display: str
    home: Path
    shots: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    taken: list[Path] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. the Secret Service's bus and keyring backend

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
        return {**env, "DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb", "RECOVERY_CONSOLE_HOME": str(self.home),
                "PYTHONPATH": str(ROOT), "QT_ACCESSIBILITY": "0", "NO_AT_BRIDGE": "1", **self.extra_env}

    def start(self) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "recovery_console"], env=self.env, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # -- reading the desktop
    def xdotool(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30)
        if check and done.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def windows(self, title: str) -> list[str]:
        """Visible windows whose title matches the regular expression `title`."""
        out = self.xdotool("search", "--onlyvisible", "--name", title, check=False)
        return out.split() if out else []

    def title_of(self, window: str) -> str:
        return self.xdotool("getwindowname", window)

    def active_title(self) -> str:
        active = self.xdotool("getactivewindow", check=False)
        return self.title_of(active) if active else ""

    def wait_window(self, title: str, timeout: float = 30) -> str:
        self.assert_running()
        found = wait_for(lambda: self.windows(title), timeout, f"a window titled {title!r}")
        assert isinstance(found, list)
        return str(found[0])

    def wait_gone(self, title: str, timeout: float = 15) -> None:
        wait_for(lambda: not self.windows(title), timeout, f"the window {title!r} to close")

    def wait_active(self, title: str, timeout: float = 15) -> None:
        wait_for(lambda: re.search(title, self.active_title()), timeout, f"{title!r} to be the active window")

    def geometry(self, window: str) -> tuple[int, int, int, int]:
        """x, y, width, height of the window's contents on the screen (xwininfo's absolute position)."""
        info = subprocess.run(["xwininfo", "-id", window], env=self.env, capture_output=True, text=True,
                              timeout=10, check=True).stdout
        values = dict(re.findall(r"^\s*(Absolute upper-left [XY]|Width|Height):\s+(-?\d+)", info, re.MULTILINE))
        return (int(values["Absolute upper-left X"]), int(values["Absolute upper-left Y"]), int(values["Width"]),
                int(values["Height"]))

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{len(self.taken) + 1:02d}_{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.taken.append(path)
        return path

    def assert_running(self) -> None:
        assert self.process is not None and self.process.poll() is None, (
            f"the console exited:\n{self.log.read_text('utf-8', 'replace')[-3000:]}")

    # -- real input
    def keys(self, *keys: str) -> None:
        """Press keys (xdotool names, e.g. "ctrl+shift+v", "Tab", "Return") in the active window."""
        self.assert_running()
        for key in keys:
            self.xdotool("key", "--clearmodifiers", key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self.xdotool("type", "--delay", "30", "--clearmodifiers", text)
        time.sleep(0.2)

    def advance(self, key: str, title: str, timeout: float = 90, retry: float = 4) -> None:
        """Press `key` until the active window's title matches `title` (e.g. a wizard's next page).

        A wizard's Next stays disabled while its page's checks run, and a press meanwhile is ignored;
        so the key is pressed again, but only while the same window is still active with the same title.
        """
        before_window = self.xdotool("getactivewindow", check=False)
        before = self.title_of(before_window) if before_window else ""
        deadline = time.monotonic() + timeout
        while True:
            self.keys(key)
            pressed = time.monotonic()
            while time.monotonic() - pressed < retry:
                now = self.active_title()
                if re.search(title, now):
                    return
                if now != before:  # something else opened (an error box, a prompt): never press into it
                    wait_for(lambda: re.search(title, self.active_title()), max(1.0, deadline - time.monotonic()),
                             f"{title!r} to be the active window (it is {self.active_title()!r})")
                    return
                time.sleep(0.2)
            if time.monotonic() > deadline:
                raise AssertionError(f"{key} did not lead from {before!r} to {title!r} within {timeout:.0f} s")

    # -- the console's own record of what it did
    def audit(self) -> list[AuditEntry]:
        root = self.home
        return list(AuditLog.at(AppPaths(config_dir=root / "config", data_dir=root / "data")).entries())

    def wait_audit(self, action: str, timeout: float = 60, after: int = 0) -> AuditEntry:
        def find() -> AuditEntry | None:
            return next((e for e in self.audit() if e.action == action and e.seq > after), None)

        entry = wait_for(find, timeout, f"an audit entry {action!r}")
        assert isinstance(entry, AuditEntry)
        return entry


@contextlib.contextmanager
def console_on_screen(home: Path, work: Path, size: str) -> Iterator[XSession]:
    """The console on `home`, started on a fresh Xvfb of `size`; stopped after, printing where the screenshots are."""
    with xvfb(size) as display:
        x = XSession(display, home, work / "screenshots", work / "console.log")
        x.start()
        try:
            yield x
        finally:
            print(f"walk screenshots: {x.shots}")
            x.stop()
