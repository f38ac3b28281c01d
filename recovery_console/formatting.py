"""Numbers and lists for people: sizes, durations, counts, names cut short; for the CLI and the desktop console."""

from __future__ import annotations

from collections.abc import Sequence


def format_bytes(n: float | None) -> str:
    """1536 → '1.5 KiB'; None → '?'."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float | None) -> str:
    """3725 → '1:02:05'; None → '--:--' (unknown)."""
    if seconds is None:
        return "--:--"
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def counted(n: int, thing: str, things: str | None = None) -> str:
    """(1, 'session') → '1 session'; (3, 'session') → '3 sessions'; `things` for an irregular plural."""
    return f"{n} {thing if n == 1 else (things or thing + 's')}"


def some_of(names: Sequence[str], most: int) -> str:
    """(['a', 'b', 'c', 'd'], 2) → 'a, b and 2 more': a list in a message, cut to its first `most` names."""
    rest = len(names) - most
    return ", ".join(names[:most]) + (f" and {rest} more" if rest > 0 else "")
