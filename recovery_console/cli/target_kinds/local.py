"""`target add local NAME PATH`: a folder on a local or mounted disk."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_console.cli.common import add_json
from recovery_console.cli.target_cmd import finish_add, parse_size
from recovery_console.engine.state.target_options import local_target


def register(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("local", help="a folder on a local or mounted disk")
    parser.add_argument("name")
    parser.add_argument("path", type=Path)
    parser.add_argument("--quota", type=parse_size, help="refuse backups beyond this size, e.g. 500G")
    add_json(parser)
    parser.set_defaults(func=cmd_add)


def cmd_add(args: argparse.Namespace) -> int:
    return finish_add(args, local_target(args.name, args.path, quota=args.quota))
