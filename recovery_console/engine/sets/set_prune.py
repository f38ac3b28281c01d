"""Recovery sets in a prune (engine/prune.py): each set of a profile is one unit of the plan, never its member files.

* A **complete** set (and one whose members cannot be named without the key, state unknown) is counted by the
  rules like a backup, at the set's time; a pinned one (its pin's key is its folder) is kept; a deleted one goes
  manifest first (`delete_set`), so it stops being a set before any member goes.
* A **damaged** set is never deleted by a prune and never counted by a rule (it cannot stand in for a good set):
  it is reported as kept, with its problems, for the operator to look at and delete by hand.
* An **unfinished** set (a folder without a manifest: a set backup or upload that failed or was killed) is
  nobody's, as restic's and pgBackRest's leftovers of an interrupted backup are: once its newest file is a day
  old it is removed, as a set backup's own sweep does; a younger one may still be being written and is left.

A set is the profile's when its manifest (once known to the catalog) names the profile; a set whose manifest was
never read here only when no other profile keeps its backups on that target, as for single backups.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from recovery_console.engine.console import Console
from recovery_console.engine.retention import PlanLine
from recovery_console.engine.sets.set_catalog import DAMAGED, UNFINISHED, SetCatalog, SetRecord, Unfinished
from recovery_console.engine.sets.set_listing import delete_set
from recovery_console.engine.sets.set_naming import MANIFEST_NAME, parse_set_key
from recovery_console.engine.sets.set_sweep import SWEEP_AFTER, sweep_unfinished
from recovery_console.errors import UsageError


@dataclass(frozen=True)
class TargetSets:
    """A profile's sets on one target: those the rules count, and the lines for those no rule may touch."""

    counted: list[SetRecord] = field(default_factory=list)
    aside: list[PlanLine] = field(default_factory=list)


def sets_to_plan(console: Console, profile: str, target: str, shared: bool, pinned: Mapping[str, str], *,
                 sync: bool = True) -> TargetSets:
    """The sets of `profile` on `target` (listed from the target first unless `sync` is false); `shared` says
    another profile keeps backups there, so a set whose manifest was never read here is not taken as this one's;
    `pinned` (key → reason) names a damaged set's hold beside its problems."""
    catalog = SetCatalog(console.catalog)
    unfinished = catalog.sync(console.storage(target)).unfinished if sync else ()
    found = TargetSets()
    for record in catalog.records([target]):
        owner = record.manifest.profile if record.manifest is not None else None
        if owner != profile and (owner is not None or shared):
            continue
        if record.state == DAMAGED:
            held = (f"pinned: {pinned[record.key]}",) if record.key in pinned else ()
            found.aside.append(PlanLine(record, (*held, f"damaged, never deleted by a prune nor counted by its rules: "
                                                        f"{'; '.join(record.problems)}")))
        else:
            found.counted.append(record)
    found.aside.extend(_unfinished_line(item) for item in unfinished)
    return found


def _unfinished_line(item: Unfinished) -> PlanLine:
    parsed = parse_set_key(item.folder + MANIFEST_NAME)
    assert parsed is not None
    name = parsed[0]
    age = max(0.0, time.time() - item.newest)
    record = SetRecord(item.target, item.folder, name.short_id, name.created.astimezone(UTC).isoformat()
                       .replace("+00:00", "Z"), name.app_version, name.mode, {}, None, None, state=UNFINISHED,
                       problems=(f"no manifest ({len(item.keys)} files)",))
    newest = datetime.fromtimestamp(item.newest, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if age >= SWEEP_AFTER:
        return PlanLine(record, note=f"unfinished: no manifest, its newest file from {newest} is over a day old")
    return PlanLine(record, (f"unfinished: no manifest, its newest file is from {newest}; it may still be being "
                             "written, and is removed once a day old",))


def delete_planned_set(console: Console, record: SetRecord, why: dict[str, str]) -> str | None:
    """Delete a set the plan did not keep: a set manifest first (refused if pinned); an unfinished one only if it
    is still unfinished and a day old when listed again now. Returns why the set's folder stayed, if it did."""
    if record.state != UNFINISHED:
        return delete_set(console, record, why).folder_kept
    storage = console.storage(record.target)
    files = list(storage.list(record.folder))
    if any(info.key == record.manifest_key for info in files):
        raise UsageError(f"The unfinished set {record.folder} has its manifest now; it was not removed.",
                         hint="It is a set now; the next prune plans it by the rules.")
    if files and not sweep_unfinished(console, storage, (Unfinished(record.target, record.folder,
                                                                    tuple(info.key for info in files),
                                                                    max(info.mtime for info in files)),)):
        raise UsageError(f"The unfinished set {record.folder} was written to again; it was not removed.",
                         hint="A set backup may still be writing it; a later prune removes it once a day old.")
    return None
