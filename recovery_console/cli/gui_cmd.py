"""`recovery-console gui`: start the desktop console."""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="open this profile")
    parser.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from recovery_console.ui.app import run

    return run(profile=args.profile)
