"""One way to show a time everywhere in the window and the wizards: local time with its zone, UTC on hover.

The engine records times in UTC (ISO 8601, or "YYYY-MM-DD HH:MM:SS" in the catalog); these
helpers only format them.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(text: str | None) -> datetime | None:
    """A recorded time (UTC when it names no zone), or None when there is none or it does not parse."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_time(text: str | None) -> str:
    """A recorded time in local time with the zone's name, to the second; "" when unknown, as is when odd."""
    value = parse_utc(text)
    if value is None:
        return text or ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def utc_hover(text: str | None) -> str:
    """The same time in UTC, for a tooltip."""
    value = parse_utc(text)
    if value is None:
        return text or ""
    return value.astimezone(UTC).strftime("UTC: %Y-%m-%d %H:%M:%S")
