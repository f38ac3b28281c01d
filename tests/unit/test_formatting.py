"""Numbers for people: counts say '1 session' and '2 sessions', never 'session(s)'."""

from __future__ import annotations

from pathlib import Path

import pytest

from recovery_console.formatting import counted, some_of


@pytest.mark.parametrize(("n", "text"), [(0, "0 warnings"), (1, "1 warning"), (2, "2 warnings")])
def test_counted(n: int, text: str) -> None:
    assert counted(n, "warning") == text


def test_an_irregular_plural() -> None:
    assert counted(3, "entry", "entries") == "3 entries" and counted(1, "entry", "entries") == "1 entry"


def test_no_message_counts_with_a_bracketed_plural() -> None:
    source = Path(__file__).resolve().parents[2] / "recovery_console"
    offending = [f"{p.relative_to(source)}:{n}" for p in source.rglob("*.py")
                 for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
                 if "(s)" in line and ('"' in line or "'" in line) and "field(s)" not in line and "one(s)" not in line]
    assert offending == []


def test_some_of_names_the_first_and_counts_the_rest():
    assert some_of(["a", "b"], 3) == "a, b"
    assert some_of(["a", "b", "c"], 3) == "a, b, c"
    assert some_of(["a", "b", "c", "d", "e"], 3) == "a, b, c and 2 more"
