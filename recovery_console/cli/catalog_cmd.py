"""`recovery-console catalog rebuild`: replace the catalog with a fresh one listed from the targets."""

from __future__ import annotations

import argparse

from recovery_console.cli.common import add_json, console, emit
from recovery_console.errors import ExitCode
from recovery_console.formatting import counted


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("The catalog is a cache of what the targets hold (and of verify verdicts); "
                          "rebuild it when it is damaged.")
    commands = parser.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    rebuild = commands.add_parser(
        "rebuild", help="delete the catalog and list every target into a fresh one",
        description="Delete the catalog file and list every configured target into a fresh one. The backups "
                    "themselves are not touched; verify verdicts recorded in the old catalog are forgotten.")
    add_json(rebuild)
    rebuild.set_defaults(func=cmd_rebuild)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from recovery_console.engine.sets.set_listing import list_sets

    app = console()
    results = app.rebuild_catalog()
    sets = {synced.target: synced.sets for synced in list_sets(app)[1]}  # the sets are in the catalog too
    lines = [f"Catalog rebuilt at {app.paths.catalog_file}."]
    for result in results:
        if result.error:
            lines.append(f"  {result.target}: NOT LISTED, unreachable: {result.error}")
        else:
            lines.append(f"  {result.target}: {counted(result.added, 'backup')}, "
                         f"{counted(sets.get(result.target, 0), 'recovery set')}")
    if not results:
        lines.append("  No targets are configured: the catalog is empty.")
    unreachable = [r.target for r in results if r.error]
    if unreachable:
        lines.append("Run `catalog rebuild` again once every target can be reached, or `backup list` to add them.")
    emit(args, {"catalog": str(app.paths.catalog_file),
                "targets": [{**r.__dict__, "sets": sets.get(r.target, 0)} for r in results]}, lines)
    return ExitCode.PARTIAL if unreachable else ExitCode.OK
