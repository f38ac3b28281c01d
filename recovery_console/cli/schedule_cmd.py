"""`recovery-console schedule install|status|uninstall`: a profile's schedule in the OS's own scheduler."""

from __future__ import annotations

import argparse

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.console import Console
from recovery_console.engine.os_schedule.installer import OsScheduler
from recovery_console.errors import ExitCode


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="schedule_command", required=True, metavar="COMMAND")
    for name, func, helptext in (
            ("install", cmd_install, "install the schedule (systemd timer, launchd agent, scheduled task)"),
            ("status", cmd_status, "installed or not, next elapse, last result"),
            ("uninstall", cmd_uninstall, "remove the installed schedule")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("--profile", help="only this profile (default: every profile with a schedule)")
        add_json(sub)
        sub.set_defaults(func=func)


def _names(app: Console, profile: str | None, scheduled_only: bool) -> list[str]:
    if profile is not None:
        return [app.profiles.store.get(profile).name]
    return [p.name for p in app.profiles.store.load().values()
            if not scheduled_only or (p.policy is not None and p.policy.scheduled)]


def cmd_install(args: argparse.Namespace) -> int:
    app = console()
    scheduler = OsScheduler(app)
    results = [scheduler.install(name) for name in _names(app, args.profile, scheduled_only=True)]
    lines = []
    for result in results:
        if result.scheduler == "cron":
            lines += [f"{result.profile}: no systemd, launchd or Task Scheduler here; add this line to your "
                      "crontab (crontab -e):", f"  {result.note}"]
        else:
            state = "installed and enabled" if result.activated else "written"
            lines += [f"{result.profile}: {result.scheduler} schedule {state}."]
            lines += [f"  {path}" for path in result.files] + ([f"  {result.note}"] if result.note else [])
    emit(args, {"installed": [vars(r) for r in results]}, lines or ["No profile has a schedule to install."])
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    app = console()
    scheduler = OsScheduler(app)
    statuses = [scheduler.status(name) for name in _names(app, args.profile, scheduled_only=False)]
    lines = []
    for status in statuses:
        state = ("installed" + ("" if status.current else " (out of date: install again)")) if status.installed \
            else "not installed"
        last = status.last_run
        lines += [f"{status.profile}: {status.scheduler} schedule {state}",
                  f"  Next elapse  {status.next_elapse.isoformat() if status.next_elapse else '-'}",
                  f"  Last result  {f'{last.result} at {last.started}' if last else 'no run yet'}"]
    emit(args, {"schedules": [s.as_dict() for s in statuses]}, lines or ["No profiles."])
    return ExitCode.OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    app = console()
    scheduler = OsScheduler(app)
    removed = {name: scheduler.uninstall(name) for name in _names(app, args.profile, scheduled_only=False)}
    emit(args, {"removed": removed},
         [f"{name}: removed {', '.join(paths)}" if paths else f"{name}: nothing was installed"
          for name, paths in removed.items()] or ["No profiles."])
    return ExitCode.OK
