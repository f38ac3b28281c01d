"""What the OS schedulers are given, as text: systemd units, a launchd plist, a schtasks command, a cron line.

Pure functions of the policy and the command line that runs `run-due --profile P`, so each is unit-tested
(the systemd units also with `systemd-analyze verify` and `calendar`). systemd takes the policy's time
zone in `OnCalendar=`; launchd, Task Scheduler and cron read wall-clock time in the machine's own zone,
which the installer checks matches the policy's (installer.py).
"""

from __future__ import annotations

import plistlib
import re
import sys

from recovery_console.engine.schedule_times import calendar_expression
from recovery_console.models.policy import Frequency, Schedule

UNIT_PREFIX = "recovery-console-run-due-"
LAUNCHD_PREFIX = "io.recovery-console.run-due."
TASK_FOLDER = "RecoveryConsole"


def run_due_command(profile: str) -> list[str]:
    """The absolute command that runs this profile's due backups: the frozen bundle, or this interpreter."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "run-due", "--profile", profile]
    return [sys.executable, "-m", "recovery_console.cli.main", "run-due", "--profile", profile]


def unit_name(profile: str) -> str:
    """'recovery-console-run-due-prod' (systemd-escape style: other bytes as \\xNN; '/' as '-')."""
    escaped = "".join(c if re.fullmatch(r"[A-Za-z0-9:_.]", c) else "-" if c == "/" else
                      "".join(f"\\x{b:02x}" for b in c.encode()) for c in profile)
    if escaped.startswith("."):
        escaped = "\\x2e" + escaped[1:]
    return UNIT_PREFIX + escaped


def _systemd_quote(arg: str) -> str:
    """One ExecStart= word, quoted, with %, $, \\ and " made literal."""
    body = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{body}"'


def systemd_service(profile: str, command: list[str], environment: dict[str, str]) -> str:
    lines = ["[Unit]", f"Description=Recovery Console: run the due backups of profile {_unit_text(profile)}",
             "", "[Service]", "Type=oneshot"]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(environment.items())]
    lines += ["ExecStart=" + " ".join(_systemd_quote(arg) for arg in command), ""]
    return "\n".join(lines)


def systemd_timer(profile: str, schedule: Schedule) -> str:
    calendar = calendar_expression(schedule)
    if calendar is None:
        raise ValueError("a schedule of 'never' has no timer")
    return "\n".join(["[Unit]", f"Description=Recovery Console: scheduled backups of profile {_unit_text(profile)}",
                      "", "[Timer]", f"OnCalendar={calendar}", "Persistent=true",
                      f"Unit={unit_name(profile)}.service", "", "[Install]", "WantedBy=timers.target", ""])


def _unit_text(text: str) -> str:
    return text.replace("%", "%%").replace("\n", " ")


def launchd_plist(profile: str, schedule: Schedule, command: list[str], environment: dict[str, str]) -> bytes:
    """A LaunchAgent running the command at the schedule's wall-clock times (StartCalendarInterval)."""
    interval: dict[str, int] = {"Minute": schedule.minute}
    if schedule.frequency is not Frequency.HOURLY:
        interval["Hour"] = schedule.hour
    if schedule.frequency is Frequency.WEEKLY:
        interval["Weekday"] = (schedule.weekday + 1) % 7  # launchd: 0 = Sunday
    if schedule.frequency is Frequency.MONTHLY:
        interval["Day"] = schedule.day
    data: dict[str, object] = {"Label": LAUNCHD_PREFIX + profile, "ProgramArguments": command,
                               "StartCalendarInterval": interval, "RunAtLoad": False}
    if environment:
        data["EnvironmentVariables"] = dict(environment)
    return plistlib.dumps(data)


def schtasks_create(profile: str, schedule: Schedule, command: list[str]) -> list[str]:
    """`schtasks /Create …` for a Task Scheduler task running the command at the schedule's times."""
    clock = f"{schedule.hour:02d}:{schedule.minute:02d}"
    match schedule.frequency:
        case Frequency.HOURLY:
            when = ["/SC", "HOURLY", "/ST", f"00:{schedule.minute:02d}"]
        case Frequency.DAILY:
            when = ["/SC", "DAILY", "/ST", clock]
        case Frequency.WEEKLY:
            when = ["/SC", "WEEKLY", "/D", ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[schedule.weekday],
                    "/ST", clock]
        case Frequency.MONTHLY:
            when = ["/SC", "MONTHLY", "/D", str(schedule.day), "/ST", clock]
        case _:
            raise ValueError("a schedule of 'never' has no task")
    return ["schtasks", "/Create", "/F", "/TN", task_name(profile), "/TR", windows_command_line(command), *when]


def task_name(profile: str) -> str:
    return f"{TASK_FOLDER}\\run-due-{profile}"


def windows_command_line(command: list[str]) -> str:
    """The command as one Windows command line (each word double-quoted, inner quotes doubled)."""
    return " ".join('"' + arg.replace('"', '""') + '"' for arg in command)


def cron_line(schedule: Schedule, command: list[str]) -> str:
    """A crontab line running the command at the schedule's wall-clock times ('%' escaped, words quoted)."""
    fields = {Frequency.HOURLY: f"{schedule.minute} * * * *",
              Frequency.DAILY: f"{schedule.minute} {schedule.hour} * * *",
              Frequency.WEEKLY: f"{schedule.minute} {schedule.hour} * * {(schedule.weekday + 1) % 7}",
              Frequency.MONTHLY: f"{schedule.minute} {schedule.hour} {schedule.day} * *"}
    if schedule.frequency not in fields:
        raise ValueError("a schedule of 'never' has no cron line")
    words = " ".join("'" + arg.replace("'", "'\\''") + "'" for arg in command).replace("%", "\\%")
    return f"{fields[schedule.frequency]} {words}"
