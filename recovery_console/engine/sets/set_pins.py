"""Legal holds on whole recovery sets, kept in the same pins file as single backups' holds: a set's copy is held
by its target and its folder (`sets/rc_set_…/`), so the pins file's key → reason lookup that pruning reads
(`PinStore.by_key`) holds a set as it holds a backup, and `catalog rebuild` keeps the hold."""

from __future__ import annotations

from recovery_console.engine.console import Console
from recovery_console.engine.pinning import checked_reason
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.state.pins import Pin
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import UsageError


def set_pin(console: Console, record: SetRecord) -> Pin | None:
    """The hold on this copy of the set, if any."""
    return console.pins.get(record.target, record.folder)


def refuse_if_pinned(console: Console, record: SetRecord) -> None:
    """The refusal a pinned single backup gets, for a set: nothing of a held set may be deleted."""
    held = set_pin(console, record)
    if held is not None:
        raise UsageError(f"Recovery set {record.short_id} on target '{record.target}' is pinned (legal hold: "
                         f"{held.reason}); it cannot be deleted.",
                         hint="Unpin it first if the hold is over; nothing was deleted.")


def pin_set(console: Console, copies: list[SetRecord], reason: str) -> list[Pin]:
    """Put each copy of a set (`set_copies` finds them) on legal hold; one audit entry each."""
    reason = checked_reason(reason)
    pins = []
    for record in copies:
        with console.audited("backup.pin-set", f"{record.target}:{record.folder}",
                             {"set_id": record.set_id, "reason": reason}):
            held = Pin(record.target, record.folder, reason, utc_now(), user_at_host())
            console.pins.add(held)
            pins.append(held)
    return pins


def unpin_set(console: Console, copies: list[SetRecord]) -> list[SetRecord]:
    """Release the hold on each copy of a set; the copies that were held."""
    released = []
    for record in copies:
        held = set_pin(console, record)
        if held is None:
            continue
        with console.audited("backup.unpin-set", f"{record.target}:{record.folder}",
                             {"set_id": record.set_id, "reason": held.reason}):
            console.pins.remove(record.target, record.folder)
            released.append(record)
    if not released:
        names = ", ".join(sorted({record.short_id for record in copies}))
        raise UsageError(f"Recovery set {names} is not pinned; nothing was changed.")
    return released
