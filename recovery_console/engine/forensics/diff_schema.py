"""What two archives' TOCs say differently, and each table's primary key as the archive's constraints state it.

TOC entries are matched by what they describe (kind, schema, name), never by dump id or OID, which
change from one dump to the next; an entry "changed" when its definition text differs. Table data
entries are left to the row comparison.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.table_columns import identifier

_PRIMARY_KEY = re.compile(r"\bPRIMARY\s+KEY\s*\(", re.IGNORECASE)
_ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?", re.IGNORECASE)
_PLAIN_PART = re.compile(r'[^\s.,()"]*')
_ROW_ENTRIES = {"TABLE DATA"}


@dataclass(frozen=True)
class SchemaChange:
    """One TOC entry added (only in B), removed (only in A) or changed (another definition)."""

    change: str
    kind: str
    schema: str
    name: str
    definition_a: str = ""
    definition_b: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"change": self.change, "kind": self.kind, "schema": self.schema, "name": self.name,
                "definition_a": self.definition_a, "definition_b": self.definition_b}


def _entries(archive: Archive) -> dict[tuple[str, str, str], list[str]]:
    found: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for entry in archive.toc:
        if entry.desc not in _ROW_ENTRIES:
            found[entry.desc, entry.namespace, entry.tag].append(entry.defn)
    return found


def schema_changes(a: Archive, b: Archive) -> list[SchemaChange]:
    """The TOC entries added, removed or redefined from A to B, in a stable order (kind, schema, name)."""
    left, right = _entries(a), _entries(b)
    changes = []
    for key in sorted(left.keys() | right.keys()):
        kind, schema, name = key
        if key not in right:
            changes.append(SchemaChange("removed", kind, schema, name, definition_a="".join(left[key])))
        elif key not in left:
            changes.append(SchemaChange("added", kind, schema, name, definition_b="".join(right[key])))
        elif sorted(left[key]) != sorted(right[key]):
            changes.append(SchemaChange("changed", kind, schema, name, "".join(left[key]), "".join(right[key])))
    return changes


def _name_part(text: str) -> tuple[str, str]:
    """One part of a dotted SQL name (quoted, or plain up to a dot) and the text after it."""
    if text.startswith('"'):
        return identifier(text)
    match = _PLAIN_PART.match(text)
    assert match is not None
    return match.group(0), text[match.end():]


def _qualified_name(text: str) -> tuple[str, str]:
    """`schema.name` (either part possibly quoted) at the start of `text`; ("", name) without a schema."""
    first, rest = _name_part(text)
    if rest.startswith("."):
        second, _ = _name_part(rest[1:])
        return first, second
    return "", first


def _column_list(text: str) -> list[str]:
    """The identifiers of `a, "B c", d)` up to the closing parenthesis."""
    names = []
    rest = text.lstrip()
    while rest and not rest.startswith(")"):
        name, rest = identifier(rest)
        names.append(name)
        rest = rest.lstrip().removeprefix(",").lstrip()
    return names


def primary_keys(archive: Archive) -> dict[str, list[str]]:
    """SCHEMA.NAME → the columns of its primary key, from the TOC's `ALTER TABLE … PRIMARY KEY (…)` entries."""
    keys: dict[str, list[str]] = {}
    for entry in archive.toc:
        if entry.desc != "CONSTRAINT":
            continue
        found = _PRIMARY_KEY.search(entry.defn)
        start = _ALTER_TABLE.match(entry.defn)
        if found is None or start is None:
            continue
        schema, name = _qualified_name(entry.defn[start.end():])
        columns = _column_list(entry.defn[found.end():])
        if columns:
            keys[f"{schema or entry.namespace}.{name}" if (schema or entry.namespace) else name] = columns
    return keys
