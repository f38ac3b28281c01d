"""`recovery-console target …`: add, list, show, test and remove storage targets."""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from recovery_console.cli.common import add_json, console, emit
from recovery_console.engine.console import Console
from recovery_console.engine.pinning import usage_by_target
from recovery_console.engine.state.target_options import NewTarget
from recovery_console.errors import ExitCode
from recovery_console.formatting import format_bytes
from recovery_console.models.target import TargetConfig

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
          "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


def parse_size(text: str) -> int:
    """'500G', '1.5 TiB', '1048576' → bytes."""
    raw = text.strip().upper().replace(" ", "")
    number = raw.rstrip("BKMGTI")
    unit = raw[len(number):]
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size such as 500G or 1.5TiB") from None
    if unit not in _UNITS or value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size such as 500G or 1.5TiB")
    return int(value * _UNITS[unit])


KINDS = ("local", "s3", "smb", "sftp")


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="target_command", required=True, metavar="COMMAND")

    add = commands.add_parser("add", help="add a target")
    kinds = add.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind in KINDS:
        module_name = f"{__package__}.target_kinds.{kind}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(kinds)

    for name, func, helptext in (("list", cmd_list, "list targets"),):
        sub = commands.add_parser(name, help=helptext)
        add_json(sub)
        sub.set_defaults(func=func)
    for name, func, helptext in (("show", cmd_show, "show one target"),
                                 ("test", cmd_test, "write, read back and delete a probe object"),
                                 ("remove", cmd_remove, "forget a target (its backups stay where they are)")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("name")
        add_json(sub)
        sub.set_defaults(func=func)


def where(config: TargetConfig) -> str:
    """Where a target keeps its backups, in the form users know for its kind."""
    o = config.options
    if config.kind == "s3":
        endpoint = f" at {o['endpoint_url']}" if o.get("endpoint_url") else ""
        return f"s3://{o.get('bucket', '')}/{o.get('prefix', '')}".rstrip("/") + endpoint
    if config.kind == "smb":
        parts = (f"{o.get('host', '')}:{o.get('port', 445)}", o.get("share", ""), o.get("directory", ""))
        return "\\\\" + "\\".join(p for p in parts if p)
    if config.kind == "sftp":
        directory = o.get("directory", "").lstrip("/")
        return f"sftp://{o.get('username', '')}@{o.get('host', '')}:{o.get('port', 22)}/{directory}"
    return str(o.get("path", ""))


def describe(config: TargetConfig) -> str:
    quota = f", quota {format_bytes(config.quota)}" if config.quota else ""
    return f"{config.name:<16} {config.kind:<6} {where(config)}{quota}"


def finish_add(args: argparse.Namespace, new: NewTarget) -> int:
    """Save a new target (secrets to the keyring) and report it; shared by every kind's `add`."""
    console().add_target(new.config, new.secrets)
    emit(args, new.config.to_dict(), [f"Target added: {describe(new.config)}"])
    return ExitCode.OK


def _last_check(app: Console, name: str) -> dict[str, object]:
    entry = app.health.get(name)
    return {"badge": app.health.badge(name), "checked_at": entry.time if entry else None,
            "ok": entry.ok if entry else None, "message": entry.message if entry else None}


def _check_line(check: dict[str, object]) -> str:
    if check["checked_at"] is None:
        return "never checked — run `target test`"
    return f"{check['badge']}: {'ok' if check['ok'] else 'FAILED'} at {check['checked_at']} ({check['message']})"


def usage_text(used: int, quota: int | None) -> str:
    """'used 1.2 GiB of 5.0 GiB (24%)', or 'used 1.2 GiB' without a quota."""
    if not quota:
        return f"used {format_bytes(used)}"
    return f"used {format_bytes(used)} of {format_bytes(quota)} ({used * 100 // quota}%)"


def cmd_list(args: argparse.Namespace) -> int:
    app = console()
    targets = list(app.targets.load().values())
    checks = {t.name: _last_check(app, t.name) for t in targets}
    used = usage_by_target(app)
    emit(args, {"targets": [{**t.to_dict(), "last_check": checks[t.name], "used_bytes": used.get(t.name, 0)}
                            for t in targets]},
         [f"{describe(t)}  [{checks[t.name]['badge']}]  {usage_text(used.get(t.name, 0), t.quota)}" for t in targets]
         or ["No targets configured. Add one with `target add local NAME PATH`."])
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    app = console()
    config = app.targets.get(args.name)
    check = _last_check(app, config.name)
    emit(args, {**config.to_dict(), "last_check": check}, [describe(config), f"Last check: {_check_line(check)}"])
    return ExitCode.OK


def cmd_test(args: argparse.Namespace) -> int:
    report = console().test_target(args.name)
    lines = [f"{'PASS' if s.ok else 'FAIL'}  {s.step:<7} {s.message}"
             + (f"\n      What to do: {s.hint}" if s.hint else "") for s in report.steps]
    lines.append(f"Target '{report.target}' " + ("works." if report.ok else "does NOT work."))
    emit(args, {"target": report.target, "ok": report.ok, "steps": [s.__dict__ for s in report.steps]}, lines)
    return ExitCode.OK if report.ok else ExitCode.STORAGE


def cmd_remove(args: argparse.Namespace) -> int:
    config = console().remove_target(args.name)
    emit(args, {"removed": config.to_dict()},
         [f"Target '{config.name}' removed. Backups stored there were not touched."])
    return ExitCode.OK
