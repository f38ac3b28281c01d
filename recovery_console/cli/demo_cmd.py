"""`recovery-console demo`: set up a demo target with real backups, then list and verify them."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_console.cli.backup_cmd import list_lines, verify_lines
from recovery_console.engine import demo
from recovery_console.errors import ExitCode


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=Path("demo-home"), help="where the demo keeps its files")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    setup = demo.set_up(args.home)
    print(f"Demo home: {args.home.absolute()} (secret in {setup.secret_file})\n")
    print("\n".join(list_lines(setup.backups)) + "\n")
    for record in setup.backups:
        result = setup.console.verify(setup.console.locate(record.backup_id), setup.secret)
        print("\n".join(verify_lines(result)) + "\n")
    print("Try it yourself:")
    print(f"  export RECOVERY_CONSOLE_HOME={args.home.absolute()}")
    print("  recovery-console backup list")
    print(f"  recovery-console backup verify {setup.backups[0].short_id} --secret-key-file {setup.secret_file}")
    print(f"  recovery-console contents {setup.backups[0].short_id} --secret-key-file {setup.secret_file}")
    return ExitCode.OK
