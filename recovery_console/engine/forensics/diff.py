"""Compare two archives: the schema (TOC entries) and, per table, the rows only in A, only in B, and changed.

Pass one reads A and B together, each once and forward (a backup decrypted as a stream and proven
whole at its end): runs of rows both hold byte for byte are paired off whole (diff_segments), every
other row is reduced to digests (diff_digests) that are then compared table by table (diff_compare).
Rows are matched by the primary key both archives state for the table; without one (or when it
differs) a table is compared as a multiset of rows. Only the columns both sides have are compared.
A second pass, only when rows are to be shown, reads both again and hands the rows whose digests
differed to a `DiffRows` (diff_output).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.engine.archive.table_data import ArchiveTable, archive_tables, encoding_of, find_table
from recovery_console.engine.forensics.diff_compare import Counts, Lookup, Wanted, as_multiset, by_key
from recovery_console.engine.forensics.diff_digests import (
    RECORD,
    Digester,
    DigestStore,
    RowShape,
    rows_of,
)
from recovery_console.engine.forensics.diff_output import DiffRows, SampledTable
from recovery_console.engine.forensics.diff_schema import SchemaChange, primary_keys, schema_changes
from recovery_console.engine.forensics.diff_segments import Side, pair_rows
from recovery_console.engine.forensics.source import READ_PIECE, OpenedSource
from recovery_console.engine.forensics.table_walk import table_blocks
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.errors import NotFoundError

Opener = Callable[[], AbstractContextManager[OpenedSource]]
DEFAULT_BUDGET = 24 << 20  # bytes of digest records a side keeps in memory before spilling to disk; also the
# window of rows held unmatched while both sides are read together


@dataclass
class TablePlan:
    """One table as both sides have it: the columns compared, the key (None: a multiset), each side's shape."""

    name: str
    a: ArchiveTable | None
    b: ArchiveTable | None
    key: tuple[str, ...] | None
    compared: tuple[str, ...]

    def columns(self, side: str) -> tuple[str, ...]:
        table = self.a if side == "a" else self.b
        return tuple(column.name for column in table.columns) if table else ()

    def shape(self, side: str) -> RowShape:
        own = self.columns(side)
        if (self.a is None) or (self.b is None):
            return RowShape(own, own, None)
        return RowShape(own, self.compared, self.key)

    def data_id(self, side: str) -> int | None:
        table = self.a if side == "a" else self.b
        return table.data_id if table is not None and table.data_promised else None


@dataclass
class TableDiff:
    """What differs in one table; `key` is None when it was compared as a multiset of rows."""

    table: str
    in_a: bool
    in_b: bool
    key: tuple[str, ...] | None
    rows_a: int = 0
    rows_b: int = 0
    only_a: int = 0
    only_b: int = 0
    changed: int = 0
    columns_only_a: list[str] = field(default_factory=list)
    columns_only_b: list[str] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.only_a or self.only_b or self.changed or self.columns_only_a or self.columns_only_b
                    or self.retyped or self.in_a != self.in_b)

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table, "in_a": self.in_a, "in_b": self.in_b,
                "key": list(self.key) if self.key else None, "rows_a": self.rows_a, "rows_b": self.rows_b,
                "only_a": self.only_a, "only_b": self.only_b, "changed": self.changed,
                "columns_only_a": self.columns_only_a, "columns_only_b": self.columns_only_b,
                "columns_retyped": [{"column": n, "type_a": ta, "type_b": tb} for n, ta, tb in self.retyped]}


@dataclass
class DiffReport:
    a: str
    b: str
    schema: list[SchemaChange]
    tables: list[TableDiff]
    rows_written: int = 0
    spilled_bytes: int = 0
    samples: dict[str, SampledTable] = field(default_factory=dict)
    """With Workbench.diff's `keep_rows`: the first differing rows of each table, for a viewer."""

    def as_dict(self) -> dict[str, object]:
        return {"a": self.a, "b": self.b, "schema": [change.as_dict() for change in self.schema],
                "tables": [table.as_dict() for table in self.tables], "rows_written": self.rows_written}


def plan_tables(a: OpenedSource, b: OpenedSource, only: str | None) -> list[TablePlan]:
    """Every table of either side (or the one named), paired by SCHEMA.NAME, with the key both sides agree on."""
    tables_a = {t.qualified: t for t in archive_tables(a.archive)}
    tables_b = {t.qualified: t for t in archive_tables(b.archive)}
    names = list(dict.fromkeys([*tables_a, *tables_b]))
    if only is not None:
        every = list(tables_a.values()) + [t for n, t in tables_b.items() if n not in tables_a]
        try:
            names = [find_table(every, only).qualified]
        except NotFoundError as exc:
            exc.message = exc.message.replace("The archive has no table", "Neither archive has a table")
            raise
    keys_a, keys_b = primary_keys(a.archive), primary_keys(b.archive)
    plans = []
    for name in names:
        ta, tb = tables_a.get(name), tables_b.get(name)
        names_b = {c.name for c in tb.columns} if tb else set()
        compared = tuple(c.name for c in ta.columns if c.name in names_b) if ta else ()
        key_a, key_b = keys_a.get(name), keys_b.get(name)
        key = tuple(key_a) if key_a and key_a == key_b and set(key_a) <= set(compared) else None
        plans.append(TablePlan(name, ta, tb, key, compared))
    return plans


def _table_diff(plan: TablePlan) -> TableDiff:
    result = TableDiff(plan.name, plan.a is not None, plan.b is not None, plan.key)
    if plan.a is not None and plan.b is not None:
        types_b = {c.name: c.type for c in plan.b.columns}
        result.columns_only_a = [c.name for c in plan.a.columns if c.name not in types_b]
        names_a = {c.name for c in plan.a.columns}
        result.columns_only_b = [c.name for c in plan.b.columns if c.name not in names_a]
        result.retyped = [(c.name, c.type, types_b[c.name]) for c in plan.a.columns
                          if c.name in types_b and c.type and types_b[c.name] and c.type != types_b[c.name]]
    return result


def _rows(source: OpenedSource, plans: list[TablePlan], side: str) -> Iterator[tuple[TablePlan, Iterator[bytes]]]:
    """Each planned table's chunks of rows on one side, then the rest of the source read (and so proven whole)."""
    by_id: dict[int, TablePlan] = {}
    for plan in plans:
        data_id = plan.data_id(side)
        if data_id is not None:
            by_id[data_id] = plan
    for rows in table_blocks(source, set(by_id)):
        assert rows.table.data_id is not None
        yield by_id[rows.table.data_id], rows.chunks
    while source.data.read(READ_PIECE):
        pass


def _alone(plan: TablePlan, chunks: Iterator[bytes], side: str, store: DigestStore) -> None:
    """A table's rows on one side with no pairing: every row digested (or, for a table one side lacks, counted)."""
    store.touch(plan.name)
    if plan.a is None or plan.b is None:  # a table one side lacks: all its rows differ, counting them will do
        store.count(plan.name, sum(chunk.count(b"\n") for chunk in chunks))
        return
    digester = Digester(plan.shape(side))
    for chunk in chunks:  # about a MB of whole rows each (table_walk): numpy's cost per call vanishes
        store.add(plan.name, digester.records(chunk)[0])


def _paired(plan: TablePlan, chunks: Iterator[bytes], side: str, store: DigestStore) -> Side:
    store.touch(plan.name)
    digester = Digester(plan.shape(side))
    return Side(chunks, lambda rows: store.add(plan.name, digester.records(rows)[0]),
                lambda count: store.count(plan.name, count))


def _walk(a: OpenedSource, b: OpenedSource, plans: list[TablePlan],
          alone: Callable[[TablePlan, Iterator[bytes], str], None],
          paired: Callable[[TablePlan, Iterator[bytes], Iterator[bytes]], None]) -> None:
    """Both sources read together, table by table as A holds them: a table both hold goes to `paired` with both
    sides' chunks (read at once), every other to `alone`; B's tables met before the one looked for go alone."""
    rows_b = _rows(b, plans, "b")
    for plan, chunks_a in _rows(a, plans, "a"):
        chunks_b = None
        if plan.a is not None and plan.b is not None and plan.data_id("b") is not None:
            for plan_b, chunks in rows_b:
                if plan_b is plan:
                    chunks_b = chunks
                    break
                alone(plan_b, chunks, "b")
        if chunks_b is None:
            alone(plan, chunks_a, "a")
        else:
            paired(plan, chunks_a, chunks_b)
    for plan_b, chunks in rows_b:
        alone(plan_b, chunks, "b")


def _digest(a: OpenedSource, b: OpenedSource, plans: list[TablePlan], stores: tuple[DigestStore, DigestStore],
            window: int) -> None:
    """Pass one: every row not in a run both sides hold, as digests in the stores."""
    def paired(plan: TablePlan, chunks_a: Iterator[bytes], chunks_b: Iterator[bytes]) -> None:
        pair_rows(_paired(plan, chunks_a, "a", stores[0]), _paired(plan, chunks_b, "b", stores[1]), window)

    _walk(a, b, plans, lambda plan, chunks, side: _alone(plan, chunks, side, stores[side == "b"]), paired)


def _compare(plan: TablePlan, store_a: DigestStore, store_b: DigestStore, budget: int,
             keep: bool) -> tuple[TableDiff, Wanted]:
    """The table's counts, and (if `keep`) the digests of its differing rows for the second pass."""
    result = _table_diff(plan)
    result.rows_a, result.rows_b = store_a.rows(plan.name), store_b.rows(plan.name)
    if plan.a is None or plan.b is None:
        result.only_a, result.only_b = result.rows_a, result.rows_b
        return result, Wanted()
    split = (store_a.spilled(plan.name) or store_b.spilled(plan.name)
             or (result.rows_a + result.rows_b) * RECORD > budget)
    counts, parts = Counts(), []
    compare = by_key if plan.key is not None else as_multiset
    for part_a, part_b in zip(store_a.buckets(plan.name, split), store_b.buckets(plan.name, split), strict=True):
        found, more = compare(part_a, part_b)
        counts.only_a, counts.only_b = counts.only_a + found.only_a, counts.only_b + found.only_b
        counts.changed += found.changed
        if keep:  # only the second pass needs them: a summary holds no digest of a differing row
            parts.append(more)
    store_a.release(plan.name)
    store_b.release(plan.name)
    result.only_a, result.only_b, result.changed = counts.only_a, counts.only_b, counts.changed
    return result, Wanted.joined(parts)


def compare(open_a: Opener, open_b: Opener, sizes: tuple[int | None, int | None], folder: Path,
            reporter: Reporter, *, table: str | None = None, rows: Callable[[str], DiffRows] | None = None,
            budget: int = DEFAULT_BUDGET) -> DiffReport:
    """Compare A and B (see the module's doc); `rows`, if given, makes (for A's text encoding) what receives
    every differing row in a second pass."""
    store_a, store_b = DigestStore(folder, "a", budget), DigestStore(folder, "b", budget)
    with open_b() as b, open_a() as a:  # then read together: progress counts both
        plans = plan_tables(a, b, table)
        report = DiffReport(a.location, b.location, schema_changes(a.archive, b.archive), [])
        codec = encoding_of(a.archive)[1]
        _start_both(reporter, a, b, sizes)
        _digest(a, b, plans, (store_a, store_b), budget)
    report.spilled_bytes = store_a.spilled_bytes + store_b.spilled_bytes
    wanted: dict[str, Wanted] = {}
    for plan in plans:
        reporter.check()
        result, wanted[plan.name] = _compare(plan, store_a, store_b, budget, rows is not None)
        report.tables.append(result)
    if rows is not None:
        differing = [plan for plan, result in zip(plans, report.tables, strict=True)
                     if result.only_a or result.only_b or result.changed]
        out = rows(codec)
        _show_rows(open_a, open_b, sizes, differing, wanted, out, reporter, budget)
        report.rows_written = out.written
    return report


def _start_both(reporter: Reporter, a: OpenedSource, b: OpenedSource, sizes: tuple[int | None, int | None]) -> None:
    backup = a.metadata is not None or b.metadata is not None
    reporter.start(Phase.DECRYPT if backup else Phase.READ,
                   None if sizes[0] is None or sizes[1] is None else sizes[0] + sizes[1])


def _show_rows(open_a: Opener, open_b: Opener, sizes: tuple[int | None, int | None], plans: list[TablePlan],
               wanted: dict[str, Wanted], out: DiffRows, reporter: Reporter, window: int) -> None:
    """The second pass: the rows behind the counts, both sides read together again and runs both hold paired off
    (they hold no differing row); a changed row is shown once both its versions were met."""
    held: tuple[dict[_Tag, bytes], dict[_Tag, bytes]] = ({}, {})
    shown: dict[tuple[str, str], _Shower] = {}

    def shower(plan: TablePlan, side: str) -> _Shower:
        if (plan.name, side) not in shown:
            shown[plan.name, side] = _Shower(plan, side, wanted[plan.name], held, out)
        return shown[plan.name, side]

    def alone(plan: TablePlan, chunks: Iterator[bytes], side: str) -> None:
        for chunk in chunks:
            shower(plan, side).rows(chunk)

    def paired(plan: TablePlan, chunks_a: Iterator[bytes], chunks_b: Iterator[bytes]) -> None:
        pair_rows(Side(chunks_a, shower(plan, "a").rows, _ignore), Side(chunks_b, shower(plan, "b").rows, _ignore),
                  window)

    with open_b() as b, open_a() as a:
        _start_both(reporter, a, b, sizes)
        _walk(a, b, plans, alone, paired)


def _ignore(rows: int) -> None:
    """Rows paired off whole in the second pass: nothing to show."""


_Tag = tuple[str, int, int]


class _Shower:
    """One side of one table in the second pass: its rows whose digests differed go to the output."""

    def __init__(self, plan: TablePlan, side: str, wanted: Wanted,
                 held: tuple[dict[_Tag, bytes], dict[_Tag, bytes]], out: DiffRows) -> None:
        self._plan, self._side, self._out = plan, side, out
        self._columns = plan.columns("a"), plan.columns("b")
        self._whole = plan.a is None or plan.b is None
        self._digester = Digester(plan.shape(side))
        self._only = Lookup(wanted.only_a, wanted.copies_a) if side == "a" else Lookup(wanted.only_b, wanted.copies_b)
        self._changed = Lookup(wanted.changed)
        self._change = "only_a" if side == "a" else "only_b"
        self._mine, self._theirs = held if side == "a" else (held[1], held[0])

    def _emit(self, change: str, key: tuple[str, ...] | None, line: bytes, other: bytes | None = None) -> None:
        a, b = (line, other) if self._side == "a" else (other, line)
        self._out.row(self._plan.name, *self._columns, key, change, a, b)

    def rows(self, chunk: bytes) -> None:
        plan = self._plan
        if self._whole:
            for line in rows_of(chunk):
                self._emit(self._change, None, line)
            return
        records, lines = self._digester.records(chunk)
        lanes = records[:, :2]
        for index in self._only.hits(lanes):
            self._emit(self._change, plan.key, lines[index])
        if plan.key is None or not len(self._changed):
            return
        for index in self._changed.hits(lanes):
            tag = (plan.name, int(lanes[index, 0]), int(lanes[index, 1]))
            other = self._theirs.pop(tag, None)
            if other is None:
                self._mine[tag] = lines[index]
            else:
                self._emit("changed", plan.key, lines[index], other)
