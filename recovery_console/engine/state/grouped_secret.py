"""Generated instance secrets in groups a person can copy and type back (docs/SECRETS.md).

256 random bits as 52 base32 characters, cut into 13 groups of 4, each followed by a check
character over GF(32) that also depends on the group's position. A typed secret of that shape is
checked group by group before any key derivation, so a mistyped group is named at once; any other
text is a plain (legacy) secret and is used exactly as given.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

from recovery_console.errors import UsageError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
SECRET_BYTES = 32
GROUPS = 13
DATA_PER_GROUP = 4
GROUP_LENGTH = DATA_PER_GROUP + 1
SEPARATOR = "-"
_POLY = 0b100101  # x^5 + x^2 + 1, primitive: α = 2 has order 31
_WEIGHTS = (2, 4, 8, 16)  # α^1..α^4: distinct and non-zero, so one changed or two swapped characters show
_SEPARATORS = re.compile(r"[\s\-]+")
_TOKEN = re.compile(r"[A-Za-z0-9]{3,7}\Z")
_MOSTLY_RIGHT = GROUPS - 2  # a typed text this close to the shape is a grouped secret with typos, not a legacy one


def _mul(a: int, b: int) -> int:
    """Multiplication in GF(2^5) modulo x^5 + x^2 + 1."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLY
    return product


def _position_term(index: int) -> int:
    """α^index: distinct for the 13 positions, so a group typed in another group's place shows."""
    term = 1
    for _ in range(index):
        term = _mul(term, 2)
    return term


def check_char(index: int, data: str) -> str:
    """The check character of group `index` (0-based) holding four base32 characters."""
    value = _position_term(index)
    for weight, char in zip(_WEIGHTS, data, strict=True):
        value ^= _mul(weight, ALPHABET.index(char))
    return ALPHABET[value]


def encode(raw: bytes) -> str:
    """The grouped text of 32 secret bytes: 13 groups of 4 base32 characters and a check character."""
    if len(raw) != SECRET_BYTES:
        raise UsageError(f"A generated secret is {SECRET_BYTES} bytes; got {len(raw)}.")
    data = base64.b32encode(raw).decode("ascii").rstrip("=")  # 52 characters; the last 4 bits are zero
    groups = [data[i:i + DATA_PER_GROUP] for i in range(0, len(data), DATA_PER_GROUP)]
    return SEPARATOR.join(group + check_char(index, group) for index, group in enumerate(groups))


def generate() -> str:
    """A new 256-bit secret in its grouped text."""
    return encode(secrets.token_bytes(SECRET_BYTES))


@dataclass(frozen=True)
class GroupProblem:
    """One group of a typed secret that is not what was generated, and why."""

    number: int  # 1-based, as the sheet numbers them
    typed: str
    reason: str


def _group_problem(index: int, token: str) -> GroupProblem | None:
    group = token.upper()
    number = index + 1
    if len(group) != GROUP_LENGTH:
        return GroupProblem(number, token, f"it has {len(group)} characters, not {GROUP_LENGTH}")
    wrong = [c for c in group if c not in ALPHABET]
    if wrong:
        return GroupProblem(number, token, f"'{wrong[0]}' is not one of the letters A–Z or digits 2–7")
    if check_char(index, group[:DATA_PER_GROUP]) != group[-1]:
        return GroupProblem(number, token, "its check character does not match")
    if index == GROUPS - 1 and ALPHABET.index(group[DATA_PER_GROUP - 1]) & 0b1111:
        return GroupProblem(number, token, "its last character cannot end a secret")
    return None


def _tokens(text: str) -> list[str] | None:
    """The typed text as 13 groups, or None when it does not have the grouped shape at all."""
    stripped = text.strip()
    tokens = [t for t in _SEPARATORS.split(stripped) if t]
    if len(tokens) == 1 and len(stripped) == GROUPS * GROUP_LENGTH:
        tokens = [stripped[i:i + GROUP_LENGTH] for i in range(0, len(stripped), GROUP_LENGTH)]
    if len(tokens) != GROUPS or not all(_TOKEN.match(t) for t in tokens):
        return None
    return tokens


def problems(text: str) -> list[GroupProblem] | None:
    """The groups of a typed grouped secret that fail their check ([] when all pass); None for a legacy secret."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    found = [p for i, t in enumerate(tokens) if (p := _group_problem(i, t)) is not None]
    if GROUPS - len(found) < _MOSTLY_RIGHT:
        return None  # thirteen words that merely look alike (each passes by chance 1 in 32): a legacy passphrase
    return found


def canonical(text: str) -> str:
    """The secret a typed text stands for: a grouped one checked and written as generated; any other as given.

    A grouped secret with a mistyped group is refused, naming the group, before any key is derived.
    """
    found = problems(text)
    if found is None:
        return text
    if found:
        first = found[0]
        others = [str(p.number) for p in found[1:]]
        more = f" (and group {', '.join(others)})" if others else ""
        raise UsageError(
            f"Group {first.number} of the secret (\"{first.typed}\") was mistyped: {first.reason}{more}.",
            hint="Compare that group with the escrow sheet and type it again; nothing was tried with this secret.")
    tokens = _tokens(text)
    assert tokens is not None
    return SEPARATOR.join(t.upper() for t in tokens)


def decode(text: str) -> bytes:
    """The 32 bytes of a grouped secret (for the sheet's test and the docs' vector)."""
    tokens = _tokens(canonical(text))
    if tokens is None:
        raise UsageError("This is not a grouped secret.")
    data = "".join(t[:DATA_PER_GROUP] for t in tokens)
    return base64.b32decode(data + "=" * (-len(data) % 8))
