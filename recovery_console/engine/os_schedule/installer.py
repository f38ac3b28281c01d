"""Installing a profile's schedule into the platform's own scheduler, reporting it, removing it.

Linux with systemd: a user timer + service in the user unit folder (`$RECOVERY_CONSOLE_SYSTEMD_USER_DIR`
overrides it, for tests), written under a temporary name and renamed, then enabled with
`systemctl --user` when a systemd user manager runs. macOS: a LaunchAgent plist, loaded with launchctl.
Windows: a Task Scheduler task (schtasks). Elsewhere nothing is installed: the cron line to add is
given. Each install and uninstall is an audited engine call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recovery_console.engine.console import Console
from recovery_console.engine.os_schedule import texts
from recovery_console.engine.schedule_times import calendar_expression, next_run
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.paths import HOME_ENV
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.errors import RecoveryError, UsageError
from recovery_console.models.policy import Schedule
from recovery_console.models.profile import Profile

UNIT_DIR_ENV = "RECOVERY_CONSOLE_SYSTEMD_USER_DIR"


@dataclass(frozen=True)
class Installed:
    """What `install` did for one profile: the scheduler, the files written, and what to know."""

    profile: str
    scheduler: str
    files: list[str] = field(default_factory=list)
    activated: bool = False
    note: str = ""


@dataclass(frozen=True)
class ScheduleStatus:
    profile: str
    scheduler: str
    installed: bool
    current: bool
    """The installed schedule is the policy's current one (False: install again after a policy change)."""
    next_elapse: datetime | None
    last_run: RunRecord | None

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "scheduler": self.scheduler, "installed": self.installed,
                "current": self.current, "next_elapse": self.next_elapse.isoformat() if self.next_elapse else None,
                "last_run": self.last_run.as_dict() if self.last_run else None}


class OsScheduler:
    """The scheduler of this platform (`platform` as sys.platform spells it; injectable for tests)."""

    def __init__(self, console: Console, platform: str = sys.platform) -> None:
        self.console = console
        self.platform = platform

    @property
    def kind(self) -> str:
        if self.platform.startswith("linux"):
            return "systemd" if os.environ.get(UNIT_DIR_ENV) or _systemd_running() else "cron"
        return {"darwin": "launchd", "win32": "schtasks"}.get(self.platform, "cron")

    def unit_dir(self) -> Path:
        override = os.environ.get(UNIT_DIR_ENV)
        if override:
            return Path(override)
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config) / "systemd" / "user"

    def install(self, profile_name: str) -> Installed:
        """Install the profile's schedule; a policy without one (none, paused or never) is refused."""
        profile = self.console.profiles.store.get(profile_name)
        with self.console.audited("schedule.install", profile.name, {"scheduler": self.kind}) as detail:
            schedule = _schedule_of(profile)
            command = texts.run_due_command(profile.name)
            environment = {HOME_ENV: os.environ[HOME_ENV]} if os.environ.get(HOME_ENV) else {}
            match self.kind:
                case "systemd":
                    result = self._install_systemd(profile.name, schedule, command, environment)
                case "launchd":
                    _check_local_zone(schedule, "launchd")
                    result = self._install_launchd(profile.name, schedule, command, environment)
                case "schtasks":
                    _check_local_zone(schedule, "Task Scheduler")
                    _run(texts.schtasks_create(profile.name, schedule, command), "creating the scheduled task")
                    result = Installed(profile.name, "schtasks", [texts.task_name(profile.name)], True)
                case _:
                    result = Installed(profile.name, "cron", note=texts.cron_line(schedule, command))
            detail.update(files=result.files, activated=result.activated)
            return result

    def uninstall(self, profile_name: str) -> list[str]:
        """Remove what install made for the profile (also when the profile is gone); the files removed."""
        with self.console.audited("schedule.uninstall", profile_name, {"scheduler": self.kind}) as detail:
            removed: list[str] = []
            match self.kind:
                case "systemd":
                    unit = texts.unit_name(profile_name)
                    if _systemd_running() and not os.environ.get(UNIT_DIR_ENV):
                        _run(["systemctl", "--user", "disable", "--now", f"{unit}.timer"], "disabling the timer",
                             check=False)
                    for path in self._unit_paths(profile_name):
                        if path.exists():
                            path.unlink()
                            removed.append(str(path))
                    self._reload()
                case "launchd":
                    path = _plist_path(profile_name)
                    if path.exists():
                        _run(["launchctl", "unload", "-w", str(path)], "unloading the agent", check=False)
                        path.unlink()
                        removed.append(str(path))
                case "schtasks":
                    _run(["schtasks", "/Delete", "/F", "/TN", texts.task_name(profile_name)], "deleting the task")
                    removed.append(texts.task_name(profile_name))
            detail.update(removed=removed)
            return removed

    def status(self, profile_name: str, now: datetime | None = None) -> ScheduleStatus:
        profile = self.console.profiles.store.get(profile_name)
        now = now or datetime.now(UTC)
        policy = profile.policy
        due = next_run(policy.schedule, now) if policy is not None and policy.scheduled else None
        history = RunHistory(self.console.paths).records(profile_name)
        installed, current = self._installed(profile)
        return ScheduleStatus(profile_name, self.kind, installed, current, due if installed else None,
                              history[-1] if history else None)

    def _installed(self, profile: Profile) -> tuple[bool, bool]:
        """(installed, matches the current policy) as far as this platform lets us read it back."""
        policy = profile.policy
        match self.kind:
            case "systemd":
                timer = self._unit_paths(profile.name)[1]
                if not timer.exists():
                    return False, False
                expected = calendar_expression(policy.schedule) if policy and policy.scheduled else None
                return True, expected is not None and f"OnCalendar={expected}\n" in timer.read_text("utf-8")
            case "launchd":
                return _plist_path(profile.name).exists(), True
            case "schtasks":
                found = subprocess.run(["schtasks", "/Query", "/TN", texts.task_name(profile.name)],
                                       capture_output=True, check=False)
                return found.returncode == 0, True
        return False, False

    def _unit_paths(self, profile: str) -> tuple[Path, Path]:
        base = self.unit_dir() / texts.unit_name(profile)
        return base.with_name(base.name + ".service"), base.with_name(base.name + ".timer")

    def _install_systemd(self, profile: str, schedule: Schedule, command: list[str],
                         environment: dict[str, str]) -> Installed:
        service, timer = self._unit_paths(profile)
        service.parent.mkdir(parents=True, exist_ok=True)
        for path, text in ((service, texts.systemd_service(profile, command, environment)),
                           (timer, texts.systemd_timer(profile, schedule))):
            with atomic_output(path, overwrite=True) as handle:
                handle.write(text.encode("utf-8"))
            path.chmod(0o644)
        activated = self._reload()
        if activated:
            _run(["systemctl", "--user", "enable", "--now", timer.name], "enabling the timer")
        note = "" if activated else "No systemd user manager runs here: the units are written but not enabled."
        return Installed(profile, "systemd", [str(service), str(timer)], activated, note)

    def _reload(self) -> bool:
        """Tell the user manager the units changed; False when none runs (or the folder is a test's)."""
        if os.environ.get(UNIT_DIR_ENV) or not _systemd_running():
            return False
        _run(["systemctl", "--user", "daemon-reload"], "reloading the systemd user units")
        return True

    def _install_launchd(self, profile: str, schedule: Schedule, command: list[str],
                         environment: dict[str, str]) -> Installed:
        path = _plist_path(profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, overwrite=True) as handle:
            handle.write(texts.launchd_plist(profile, schedule, command, environment))
        _run(["launchctl", "unload", str(path)], "unloading the old agent", check=False)
        _run(["launchctl", "load", "-w", str(path)], "loading the agent")
        return Installed(profile, "launchd", [str(path)], True)


def _schedule_of(profile: Profile) -> Schedule:
    if profile.policy is None or not profile.policy.scheduled:
        raise UsageError(f"Profile '{profile.name}' has no schedule to install (its policy is "
                         f"{'not set' if profile.policy is None else 'paused or never'}).",
                         hint="Set a schedule in the profile's policy first.")
    return profile.policy.schedule


def _plist_path(profile: str) -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{texts.LAUNCHD_PREFIX}{profile}.plist"


def _systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def _check_local_zone(schedule: Schedule, scheduler: str) -> None:
    """launchd and Task Scheduler read the machine's own clock: its zone must keep the policy's offsets."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for day in range(0, 366, 3):
        moment = start + timedelta(days=day)
        if moment.astimezone().utcoffset() != moment.astimezone(schedule.zone).utcoffset():
            raise UsageError(f"{scheduler} runs tasks in this machine's time zone, which is not the policy's "
                             f"({schedule.timezone}).",
                             hint="Set the policy's time zone to this machine's, then install again.")


def _run(command: list[str], action: str, *, check: bool = True) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RecoveryError(f"Failed {action}: {exc}.", hint="Check that the scheduler works for your user.") from None
    if check and done.returncode != 0:
        raise RecoveryError(f"Failed {action}: {(done.stderr or done.stdout).strip() or done.returncode}.",
                            hint="Check that the scheduler works for your user.")
