"""How a command's BACKUP argument names a recovery set: its id or folder on a target, else its name (the newest
complete set of that name, said on stderr). restore, decrypt, contents and backup verify take a set alike."""

from __future__ import annotations

import sys
from pathlib import Path

from recovery_console.cli.common import printable
from recovery_console.engine.console import Console
from recovery_console.engine.sets.local_set import is_set_folder
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.sets.set_listing import find_set
from recovery_console.engine.sets.set_names import find_named_set


def named_set(app: Console, ref: str, target: str | None) -> SetRecord | None:
    """The set `ref` names; None for a file, a set's folder on this machine, or a single backup."""
    path = Path(ref).expanduser()
    if path.is_file() or is_set_folder(path):
        return None
    found = find_set(app, ref, target)
    if found is None and (named := find_named_set(app, ref, target)) is not None:
        print(printable(named.note()), file=sys.stderr)
        return named.record
    return found
