"""A recovery set found by its name (`backup upload --as-set NAME`, a set backup's description). A set's identity is
its folder (its creation time and random id); names repeat by design (each night's import of one cron job's files,
each run of one profile), so a name picks the newest complete set of that name, and says which."""

from __future__ import annotations

from dataclasses import dataclass

from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import COMPLETE, DAMAGED, SetCatalog, SetRecord
from recovery_console.errors import UsageError
from recovery_console.formatting import counted


@dataclass(frozen=True)
class NamedSet:
    """The set a name picked, and the other sets of that name it was picked over."""

    name: str
    record: SetRecord
    others: tuple[SetRecord, ...]

    def note(self) -> str:
        """Which set the name picked, in one sentence, for the CLI to print before it acts."""
        picked = f"set {self.record.short_id} (created {self.record.created or '?'}) on {self.record.target}"
        if not self.others:
            return f"'{self.name}' is {picked}."
        older = ", ".join(f"{r.short_id}{' (damaged)' if r.state == DAMAGED else ''}" for r in self.others)
        return (f"'{self.name}' names {len(self.others) + 1} recovery sets; the newest complete one is used: {picked}. "
                f"The others: {older}.")


def find_named_set(console: Console, name: str, target: str | None = None) -> NamedSet | None:
    """The newest complete set whose manifest names it `name` (on `target`, or on any), by the manifest's creation
    time (to the second), then its finish (to the millisecond), then folder; None if the catalog knows no set of that
    name. Refused rather than guessed: when every set of that name is damaged, when the newest is on several targets,
    and when a newer set's name is unknown here (its manifest was never read with the key, so it may carry the same
    name)."""
    wanted = name.strip()
    if not wanted:
        return None
    target_name = console.targets.resolve(target).name if target else None
    records = SetCatalog(console.catalog).records([target_name] if target_name else None)
    named = sorted((r for r in records if r.manifest is not None and r.manifest.description.strip() == wanted),
                   key=lambda r: (r.manifest.created_at, r.manifest.finished_at, r.folder) if r.manifest else (),
                   reverse=True)
    if not named:
        return None
    complete = [r for r in named if r.state == COMPLETE]
    if not complete:
        raise UsageError(f"Every recovery set named '{wanted}' is damaged: "
                         + ", ".join(f"{r.short_id} on {r.target}" for r in named) + ".",
                         hint="Restore from another copy of the set, or from a set of another name.")
    newest = complete[0]
    copies = [r for r in complete if r.folder == newest.folder]
    if len(copies) > 1:
        raise UsageError(f"The newest recovery set named '{wanted}', {newest.short_id}, is on {len(copies)} targets: "
                         f"{', '.join(r.target for r in copies)}.", hint="Name the target of the copy to act on.",
                         cli_hint="Name the target of the copy to act on with --target.")
    unknown = [r for r in records if r.manifest is None and r.state != DAMAGED  # the same second counts as newer
               and (r.created or "") >= (newest.created or "")]
    if unknown:
        raise UsageError(f"'{wanted}' names set {newest.short_id} (created {newest.created or '?'}), but "
                         f"{counted(len(unknown), 'newer set')} ("
                         + ", ".join(f"{r.short_id} on {r.target}" for r in unknown)
                         + f") cannot be named without the key and may be named '{wanted}' too.",
                         hint="Verify the newer sets so their names are known here, or name the set by its id.")
    return NamedSet(wanted, newest, tuple(r for r in named if r.folder != newest.folder))
