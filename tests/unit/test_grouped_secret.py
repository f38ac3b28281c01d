"""Generated secrets in checked groups (docs/SECRETS.md): the vector, typing them back, and every typo caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from recovery_console.engine.escrow_sheet import EscrowSheet, describe_use, sheet_html, write_sheet_html
from recovery_console.engine.state import grouped_secret as g
from recovery_console.engine.state.secret_sources import SecretRequest, obtain_secret
from recovery_console.errors import UsageError

VECTOR_BYTES = bytes(range(32))
VECTOR_TEXT = "AAAQM-EAYE6-AUDAG-OCAJY-BIFQX-YDION-B4IBN-CEQTM-CQKRE-MFYYR-DENBQ-WHA5R-DYPQ5"


def test_the_documented_vector() -> None:
    assert g.encode(VECTOR_BYTES) == VECTOR_TEXT
    assert g.decode(VECTOR_TEXT) == VECTOR_BYTES
    assert VECTOR_TEXT in (Path(__file__).resolve().parents[2] / "docs" / "SECRETS.md").read_text("utf-8")


def test_generated_secrets_are_256_random_bits_in_13_checked_groups() -> None:
    first, second = g.generate(), g.generate()
    assert first != second
    for text in (first, second):
        groups = text.split("-")
        assert len(groups) == 13 and all(len(group) == 5 for group in groups)
        assert len(g.decode(text)) == 32
        assert g.problems(text) == []


@pytest.mark.parametrize("typed", [
    VECTOR_TEXT.lower(),
    VECTOR_TEXT.replace("-", " "),
    VECTOR_TEXT.replace("-", ""),
    "  " + VECTOR_TEXT.replace("-", " - ").lower() + "\t",
])
def test_the_grouped_secret_is_accepted_as_people_type_it(typed: str) -> None:
    assert g.canonical(typed) == VECTOR_TEXT


def _mistype(text: str, group: int, position: int, char: str) -> str:
    groups = text.split("-")
    word = groups[group]
    groups[group] = word[:position] + char + word[position + 1:]
    return " ".join(groups)


def test_every_single_mistyped_character_is_caught_and_its_group_named() -> None:
    for group in range(13):
        for position in range(5):
            for char in g.ALPHABET:
                original = VECTOR_TEXT.split("-")[group][position]
                if char == original:
                    continue
                with pytest.raises(UsageError, match=f"^Group {group + 1} of the secret"):
                    g.canonical(_mistype(VECTOR_TEXT, group, position, char))


def test_swapped_characters_and_swapped_groups_are_caught() -> None:
    groups = VECTOR_TEXT.split("-")
    for index, word in enumerate(groups):
        for position in range(3):  # two data characters swapped
            swapped = word[:position] + word[position + 1] + word[position] + word[position + 2:]
            if swapped != word:
                with pytest.raises(UsageError, match=f"Group {index + 1} "):
                    g.canonical("-".join(groups[:index] + [swapped] + groups[index + 1:]))
    exchanged = groups[:]
    exchanged[2], exchanged[7] = exchanged[7], exchanged[2]
    with pytest.raises(UsageError, match=r"Group 3 .*and group 8"):
        g.canonical(" ".join(exchanged))


def test_a_group_with_a_character_missing_or_not_base32_is_named() -> None:
    groups = VECTOR_TEXT.split("-")
    short = groups[:]
    short[5] = short[5][:4]
    with pytest.raises(UsageError, match="Group 6 .*4 characters"):
        g.canonical(" ".join(short))
    zero = groups[:]
    zero[0] = "0" + zero[0][1:]
    with pytest.raises(UsageError, match="Group 1 .*'0' is not one of"):
        g.canonical(" ".join(zero))


@pytest.mark.parametrize("legacy", [
    "correct horse battery staple ✓",
    "a" * 65,
    "apple grape lemon melon peach berry mango olive onion wheat maize bread spice",
    "ABCDE-" * 12 + "ABCDE",
])
def test_plain_legacy_secrets_are_used_exactly_as_given(legacy: str) -> None:
    assert g.problems(legacy) is None
    assert g.canonical(legacy) == legacy


def test_a_typed_secret_is_checked_before_it_is_used(tmp_path: Path) -> None:
    typed = tmp_path / "typed.txt"
    typed.write_text(VECTOR_TEXT.lower().replace("-", " ") + "\n", "utf-8")
    assert obtain_secret(SecretRequest(file=typed)) == VECTOR_TEXT
    typed.write_text(_mistype(VECTOR_TEXT, 9, 1, "Z") + "\n", "utf-8")
    with pytest.raises(UsageError, match="Group 10 of the secret"):
        obtain_secret(SecretRequest(file=typed))


def test_the_escrow_sheet_shows_the_groups_a_qr_code_and_what_the_secret_opens(tmp_path: Path) -> None:
    sheet = EscrowSheet("prod", VECTOR_TEXT, "2026-12-07T05:00:00Z", "ops@host", describe_use("prod", None))
    page = sheet_html(sheet)
    for group in VECTOR_TEXT.split("-"):
        assert f"<b>{group}</b>" in page
    assert "<svg" in page and "keyring name 'prod'" in page and "2026-12-07T05:00:00Z" in page
    out = write_sheet_html(sheet, tmp_path / "sheet.html")
    assert out.stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError, match="already exists"):
        write_sheet_html(sheet, out)
