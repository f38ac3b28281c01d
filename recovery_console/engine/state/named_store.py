"""A JSON file of named settings records (targets, profiles), written atomically, holding no secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from recovery_console.engine.state.atomic import write_json
from recovery_console.errors import IntegrityError, NotFoundError, UsageError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def usable_text(text: str, what: str) -> None:
    """Refuse text that cannot be stored as UTF-8 (argv bytes that were not UTF-8 arrive as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text.",
                         hint="Settings, the catalog and the audit log are UTF-8: give it as UTF-8 (rename a "
                              "folder or file whose name is not, or check the terminal's encoding).") from None


class Named(Protocol):
    """A settings record: read-only `name` (frozen dataclasses fit) and its JSON form."""

    @property
    def name(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Named)


class NamedStore(Generic[T]):
    """Load, add, replace and remove records by name in one JSON file (`{"<kind>s": [...]}`)."""

    def __init__(self, file: Path, kind: str, from_dict: Callable[[dict[str, Any]], T]) -> None:
        self.file = file
        self.kind = kind
        self._key = f"{kind}s"
        self._from_dict = from_dict

    def load(self) -> dict[str, T]:
        try:
            raw = json.loads(self.file.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"The {self.kind} settings in {self.file} cannot be read: {exc}.",
                                 hint="Fix or remove that file; backups themselves are unaffected.") from exc
        return self._records(raw)

    def _records(self, raw: object) -> dict[str, T]:
        """The records of a parsed file, refusing any entry whose shape or types are wrong."""
        items = raw.get(self._key) if isinstance(raw, dict) else None  # a saved file always holds the list
        if not isinstance(items, list):
            self._damaged(f"it must be an object holding a list \"{self._key}\"")
        records: dict[str, T] = {}
        for index, item in enumerate(items, 1):
            if not isinstance(item, dict):
                self._damaged(f"{self.kind} #{index} is not an object")
            try:
                record = self._from_dict(item)
            except (ValueError, TypeError) as exc:
                self._damaged(f"{self.kind} #{index}: {exc}")
            if not _NAME.match(record.name) or record.name in records:
                self._damaged(f"{self.kind} #{index}: the name {record.name!r} is not usable or appears twice")
            records[record.name] = record
        return records

    def _damaged(self, what: str) -> NoReturn:
        raise IntegrityError(f"The {self.kind} settings in {self.file} are damaged: {what}.",
                             hint=f"Fix that entry by hand, or move the file away and add the {self.kind}s "
                                  "again; backups themselves are unaffected.")

    def save(self, records: dict[str, T]) -> None:
        """Replace the file whole, through a temp file of its own: two processes saving at once never mix."""
        write_json(self.file, {self._key: [r.to_dict() for r in records.values()]})

    def get(self, name: str) -> T:
        records = self.load()
        if name not in records:
            raise NotFoundError(f"No {self.kind} named '{name}'.", hint=f"Pick one of the {self.kind}s listed.",
                                cli_hint=f"`recovery-console {self.kind} list` shows them.")
        return records[name]

    def check_new(self, name: str) -> dict[str, T]:
        """Refuse a malformed or taken name; returns the current records."""
        if not _NAME.match(name):
            raise UsageError(f"'{name}' is not a usable {self.kind} name.",
                             hint="Use letters, digits, '.', '_' or '-', starting with a letter or digit.")
        records = self.load()
        if name in records:
            raise UsageError(f"A {self.kind} named '{name}' already exists.",
                             hint=f"Pick another name, or remove the old {self.kind} first.")
        return records

    def check_storable(self, record: T) -> None:
        """Refuse a record that could not be written, before anything else of it is stored (e.g. its secrets)."""
        usable_text(json.dumps(record.to_dict(), ensure_ascii=False), f"A setting of this {self.kind}")

    def add(self, record: T) -> None:
        self.check_storable(record)
        records = self.check_new(record.name)
        records[record.name] = record
        self.save(records)

    def replace(self, record: T) -> None:
        self.check_storable(record)
        records = self.load()
        if record.name not in records:
            raise NotFoundError(f"No {self.kind} named '{record.name}'.")
        records[record.name] = record
        self.save(records)

    def remove(self, name: str) -> T:
        records = self.load()
        if name not in records:
            raise NotFoundError(f"No {self.kind} named '{name}'.", hint=f"Pick one of the {self.kind}s listed.",
                                cli_hint=f"`recovery-console {self.kind} list` shows them.")
        record = records.pop(name)
        self.save(records)
        return record
