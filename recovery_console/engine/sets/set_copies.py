"""Every copy of one recovery set: after `backup copy`, the same set (the same folder name) is on several targets,
and an id names all of them, as a backup's id names every copy of it."""

from __future__ import annotations

from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import SetCatalog, SetRecord
from recovery_console.engine.sets.set_listing import find_set
from recovery_console.errors import UsageError


def set_copies(console: Console, ref: str, target: str | None = None) -> list[SetRecord]:
    """The copies of the one set `ref` names (on `target` only, if given), one per target; empty when it names no
    set. Two different sets matching is an error that lists both."""
    if target is not None:
        found = find_set(console, ref, target)
        return [found] if found is not None else []
    targets = sorted({record.target for record in SetCatalog(console.catalog).records()})
    copies = [found for name in targets if (found := find_set(console, ref, name)) is not None]
    if len({record.folder for record in copies}) > 1:
        raise UsageError(f"'{ref}' names {len(copies)} different sets: " +
                         ", ".join(f"{r.short_id} on {r.target}" for r in copies) + ".",
                         hint="Give more of the set's id.")
    return copies


def one_copy(console: Console, ref: str, target: str | None = None, avoid: str | None = None) -> SetRecord | None:
    """One copy of the set `ref` names, not the one on target `avoid` when there is another (any copy is the same
    files); None when `ref` names no set."""
    copies = set_copies(console, ref, target)
    if not copies:
        return None
    avoided = console.targets.resolve(avoid).name if avoid else None
    return next((record for record in copies if record.target != avoided), copies[0])
