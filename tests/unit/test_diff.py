"""The diff on two real pg_dump archives of one database before and after known changes (tests/fixtures/diff_db.py):
counts, rows, schema, spilling to disk, backups decrypted as streams, errors and cancel."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from recovery_console.cli.main import main
from recovery_console.engine.forensics.diff_compare import as_multiset, by_key
from recovery_console.engine.forensics.diff_digests import DigestStore
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.errors import Cancelled, IntegrityError, NotFoundError, UsageError, WrongKeyError
from tests.fixtures.console import DATA, SECRET
from tests.fixtures.diff_db import EXPECTED, ROWS, SCHEMA

A, B = DATA / "diff-a.dump", DATA / "diff-b.dump"


def _no_secret() -> str:
    raise AssertionError("a plain archive needs no secret")


def _counts(report) -> dict[str, tuple[int, int, int]]:
    return {t.table: (t.only_a, t.only_b, t.changed) for t in report.tables if t.differs}


def _jsonl_rows(data: bytes) -> dict[str, set[tuple[str, str]]]:
    """table → {(change, key or whole row as tab-joined text)} of a jsonl diff."""
    found: dict[str, set[tuple[str, str]]] = {}
    for line in data.decode("utf-8").splitlines():
        record = json.loads(line)
        row = record["a"] if record["a"] is not None else record["b"]
        shown = record["key"] if record["key"] is not None else row
        found.setdefault(record["table"], set()).add((record["change"], "\t".join(str(v) for v in shown.values())))
    return found


@pytest.mark.parametrize("budget", [None, 2048], ids=["in-memory", "spilled"])
def test_diff_reports_exactly_the_known_changes(console, budget):
    bench = Workbench(console)
    report = bench.diff(console.locate(str(A)), console.locate(str(B)), _no_secret, budget=budget)
    assert _counts(report) == EXPECTED
    assert (report.spilled_bytes > 0) == (budget is not None)
    assert {(s.change, s.kind, s.schema, s.name) for s in report.schema} == SCHEMA
    tables = {t.table: t for t in report.tables}
    assert tables["shop.order_lines"].key == ("order_id", "line") and tables["public.log"].key is None
    assert tables["public.settings"].columns_only_b == ["changed_by"]
    assert (tables["public.gone"].in_b, tables["public.added"].in_a) == (False, False)
    assert (tables["shop.customers"].rows_a, tables["shop.customers"].rows_b) == (40, 41)
    entry = list(console.audit.entries())[-1]
    assert (entry.action, entry.result) == ("forensics.diff", "ok")
    assert {t["table"] for t in entry.detail["tables"]} == set(EXPECTED)
    assert not list(console.paths.runtime_dir.glob("*"))  # the spilled digests are gone


@pytest.mark.parametrize("budget", [None, 2048], ids=["in-memory", "spilled"])
def test_jsonl_shows_the_rows_behind_the_counts(console, budget):
    out = io.BytesIO()
    report = Workbench(console).diff(console.locate(str(A)), console.locate(str(B)), _no_secret, fmt="jsonl",
                                     stream=out, budget=budget)
    rows = _jsonl_rows(out.getvalue())
    for table, expected in ROWS.items():
        assert rows[table] == expected, table
    assert report.rows_written == sum(sum(counts) for counts in EXPECTED.values())
    records = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    changed = next(r for r in records if r["table"] == "shop.customers" and r["key"] == {"id": "12"})
    assert changed["a"]["name"] == "customer 12" and changed["b"]["name"] == 'tab\there, "quoted"'
    added = [r["b"] for r in records if r["table"] == "public.added"]
    assert added == [{"id": "1", "note": "x"}, {"id": "1", "note": "x"}, {"id": "2", "note": None}]
    big = sorted(int(r["key"]["id"]) for r in records if r["table"] == "public.big")
    assert big == list(range(200, 2001, 200))


def test_csv_of_one_table_with_an_added_column(console, tmp_path):
    out = tmp_path / "settings.csv"
    report = Workbench(console).diff(console.locate(str(A)), console.locate(str(B)), _no_secret, table="settings",
                                     fmt="csv", out=out)
    assert out.read_text("utf-8") == ("change,key,value,changed_by\n"
                                      "changed_a,retention,30,\n"
                                      "changed_b,retention,90,carol\n")
    assert [t.table for t in report.tables] == ["public.settings"]
    log = io.BytesIO()
    Workbench(console).diff(console.locate(str(A)), console.locate(str(B)), _no_secret, table="public.log",
                            fmt="csv", stream=log)
    assert sorted(csv.reader(io.StringIO(log.getvalue().decode()))) == [
        ["change", "at", "message"], ["only_a", "09:03", "logout alice"], ["only_b", "09:01", "login alice"]]


def test_a_backup_is_compared_as_a_stream(console, make_backup):
    record = make_backup(A)
    bench = Workbench(console)
    report = bench.diff(console.locate(record.short_id), console.locate(str(B)), lambda: SECRET)
    assert _counts(report) == EXPECTED
    same = bench.diff(console.locate(record.short_id), console.locate(str(A)), lambda: SECRET)
    assert not same.schema and not any(t.differs for t in same.tables)
    with pytest.raises(WrongKeyError):
        bench.diff(console.locate(record.short_id), console.locate(str(B)), lambda: "not the secret")


def test_a_cut_backup_is_not_declared_compared(console, make_backup, tmp_path):
    record = make_backup(B)
    enc = Path(console.storage("vault").location(record.key))
    cut = tmp_path / "cut.enc"
    cut.write_bytes(enc.read_bytes()[:-300])
    with pytest.raises(IntegrityError):
        Workbench(console).diff(console.locate(str(A)), console.locate(str(cut)), lambda: SECRET,
                                table="shop.customers")
    assert list(console.audit.entries())[-1].result == "failed"


def test_errors_name_the_table_and_the_format(console):
    bench = Workbench(console)
    a, b = console.locate(str(A)), console.locate(str(B))
    with pytest.raises(NotFoundError, match="Neither archive has a table custmers. Did you mean: shop.customers"):
        bench.diff(a, b, _no_secret, table="custmers")
    with pytest.raises(UsageError, match="one table"):
        bench.diff(a, b, _no_secret, fmt="csv", stream=io.BytesIO())
    with pytest.raises(UsageError, match="format"):
        bench.diff(a, b, _no_secret, fmt="xml", stream=io.BytesIO())


def test_a_cancelled_diff_leaves_nothing(console, tmp_path):
    token = CancelToken()
    reporter = Reporter(sink=lambda progress: token.cancel() if progress.done else None, token=token, min_interval=0)
    out = tmp_path / "rows.jsonl"
    with pytest.raises(Cancelled):
        Workbench(console).diff(console.locate(str(A)), console.locate(str(B)), _no_secret, fmt="jsonl", out=out,
                                reporter=reporter, budget=2048)
    assert not out.exists() and not list(console.paths.runtime_dir.glob("*"))
    assert list(console.audit.entries())[-1].result == "cancelled"


def _records(keys: list[int], rows: list[int]) -> np.ndarray:
    out = np.zeros((len(keys), 3), np.int64)
    out[:, 0], out[:, 1], out[:, 2] = keys, [k * 7 for k in keys], rows
    return out


def test_multiset_counts_copies_and_key_matching_finds_changes():
    a = _records([1, 1, 1, 2, 3], [0] * 5)
    b = _records([1, 2, 2, 4], [0] * 4)
    counts, wanted = as_multiset(a, b)
    assert (counts.only_a, counts.only_b) == (3, 2)  # two more 1s and the 3 in A; one more 2 and the 4 in B
    assert dict(zip(wanted.only_a[:, 0].tolist(), wanted.copies_a.tolist(), strict=True)) == {1: 2, 3: 1}
    counts, wanted = by_key(_records([5, 6, 7], [1, 2, 3]), _records([6, 7, 8], [2, 9, 4]))
    assert (counts.only_a, counts.only_b, counts.changed) == (1, 1, 1)
    assert wanted.changed[:, 0].tolist() == [7]


def test_spilled_digests_come_back_whole_bucket_by_bucket(tmp_path):
    rng = np.random.default_rng(7)
    store = DigestStore(tmp_path, "a", budget=4096)
    parts = [rng.integers(-2**63, 2**63 - 1, (300, 3), dtype=np.int64) for _ in range(5)]
    for part in parts:
        store.add("t", part)
    assert store.spilled("t") and store.rows("t") == 1500
    back = np.concatenate(list(store.buckets("t", split=True)))
    expected = np.concatenate(parts)
    assert sorted(map(tuple, back.tolist())) == sorted(map(tuple, expected.tolist()))
    store.release("t")
    assert not list(tmp_path.iterdir())


def test_the_cli_prints_the_summary_and_json(capsys, tmp_path):
    assert main(["diff", str(A), str(B)]) == 0
    out = capsys.readouterr().out
    assert "shop.customers (key id): 1 only in A, 2 only in B, 3 changed (40 → 41 rows)" in out
    assert "public.settings (key key): 0 only in A, 0 only in B, 1 changed (2 → 2 rows); the columns differ: " \
           "columns only in B: changed_by (rows compared on the columns both have)" in out
    assert "public.log (no primary key: compared as a multiset of rows): 1 only in A, 1 only in B" in out
    assert main(["diff", str(A), str(B), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {t["table"]: (t["only_a"], t["only_b"], t["changed"]) for t in data["tables"]
            if t["only_a"] or t["only_b"] or t["changed"]} == EXPECTED
    rows = tmp_path / "rows.jsonl"
    assert main(["diff", str(A), str(B), "--format", "jsonl", "-o", str(rows), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_written"] == len(rows.read_text().splitlines())
    assert main(["diff", str(A), str(B), "--table", "orders"]) == 5
    assert "Neither archive has a table orders" in capsys.readouterr().err


def test_keys_short_and_long_at_any_column_match_only_themselves():
    from recovery_console.engine.forensics.diff_digests import Digester, RowShape

    values = ["", "1", "x" * 15, "y" * 16, "z" * 40, "a\\tb", "ü" * 10]
    shape = RowShape(("n", "k", "v"), ("n", "k", "v"), ("k",))
    chunk = "".join(f"{i}\t{k}\tv{i}\n" for i, k in enumerate(values)).encode()
    again = "".join(f"{i + 9}\t{k}\tother\n" for i, k in reversed(list(enumerate(values)))).encode()
    first, lines = Digester(shape).records(chunk)
    second, _ = Digester(shape).records(again)
    assert len(lines) == len(values) and len({tuple(r) for r in first[:, :2].tolist()}) == len(values)
    assert [tuple(r) for r in first[:, :2].tolist()] == [tuple(r) for r in second[::-1, :2].tolist()]
    assert (first[:, 2] != second[::-1, 2]).all()  # same keys, other rows
    short = first[1].view(np.uint8)[:16]
    assert bytes(short[:15]).rstrip(b"\0") == b"1" and short[15] == 1
    assert all(first[row].view(np.uint8)[15] == 0xFF for row in (3, 4, 6))  # 16 bytes or more: hashed, marked


def test_buckets_spread_short_keys_that_share_their_top_bytes():
    from recovery_console.engine.forensics.diff_digests import BUCKETS, bucket_of

    records = np.zeros((64_000, 3), np.int64)
    records[:, 0] = [int.from_bytes(str(n).encode().ljust(8, b"\0"), "little") for n in range(64_000)]
    counts = np.bincount(bucket_of(records), minlength=BUCKETS)
    assert counts.max() < 2 * counts.mean()  # numbers' top bytes are all zero: their buckets must not be


def test_a_first_column_key_is_the_same_digest_as_the_key_elsewhere():
    from recovery_console.engine.forensics.diff_digests import Digester, RowShape

    values = ["", "1", "x" * 15, "y" * 16, "z" * 40, "a\\tb", "ü" * 10]
    first = "".join(f"{k}\tv{i}\n" for i, k in enumerate(values)).encode()
    second = "".join(f"v{i}\t{k}\n" for i, k in enumerate(values)).encode()
    only = "".join(f"{k}\n" for k in values).encode()  # a key with no tab after it: it ends at the newline
    at_0, _ = Digester(RowShape(("k", "v"), ("k", "v"), ("k",))).records(first)
    at_1, _ = Digester(RowShape(("v", "k"), ("v", "k"), ("k",))).records(second)
    alone, _ = Digester(RowShape(("k",), ("k",), ("k",))).records(only)
    assert at_0[:, :2].tolist() == at_1[:, :2].tolist() == alone[:, :2].tolist()


def test_a_viewer_gets_the_first_rows_of_each_kind_decoded_with_the_changed_columns(console):
    report = Workbench(console).diff(console.locate(str(A)), console.locate(str(B)), _no_secret, keep_rows=2)
    assert _counts(report) == EXPECTED
    customers = report.samples["shop.customers"]
    assert (customers.key, customers.columns, customers.total) == (("id",), ["id", "name", "balance"], 6)
    assert [row.change for row in customers.rows].count("changed") == 2 and not customers.complete
    changed = {row.key["id"]: row for row in customers.rows if row.change == "changed"}
    assert changed["3"].changed == ("name",) and changed["3"].b["name"] == "renamed three"
    assert changed["7"].changed == ("balance",)
    settings = report.samples["public.settings"].rows[0]
    assert settings.changed == ("value",) and settings.b["changed_by"] == "carol" and "changed_by" not in settings.a
    assert report.samples["public.settings"].columns == ["key", "value", "changed_by"]
    log = report.samples["public.log"]
    assert log.key is None and log.complete and {(r.change, (r.a or r.b)["message"]) for r in log.rows} == {
        ("only_a", "logout alice"), ("only_b", "login alice")}
    assert report.samples["public.gone"].rows[0].b is None and report.samples["public.added"].total == 3


def _paired(chunks_a: list[bytes], chunks_b: list[bytes], window: int) -> tuple[list[bytes], list[bytes], int, int]:
    """pair_rows on two chunk lists: the rows each side had digested, and the rows each side only counted."""
    from recovery_console.engine.forensics.diff_segments import Side, pair_rows

    digested: tuple[list[bytes], list[bytes]] = ([], [])
    counted = [0, 0]

    def side(chunks: list[bytes], n: int) -> Side:
        return Side(iter(chunks), lambda rows: digested[n].extend(rows.splitlines(keepends=True)),
                    lambda rows: counted.__setitem__(n, counted[n] + rows))

    pair_rows(side(chunks_a, 0), side(chunks_b, 1), window)
    return digested[0], digested[1], counted[0], counted[1]


def _chunks(rows: list[bytes], size: int) -> list[bytes]:
    return [b"".join(rows[i:i + size]) for i in range(0, len(rows), size)]


def test_runs_both_sides_hold_are_paired_off_and_only_the_rest_is_digested():
    from collections import Counter

    rows = [f"{n}\tevent {n}\t{'x' * (n % 7)}\n".encode() for n in range(6000)]
    changed = rows[:100] + rows[101:3000] + [b"3000\tchanged\n"] + rows[3001:] + [b"9999\tnew\n"]
    for window in (1 << 30, 4096):  # all held; or evicted (digested) long before the match arrives
        only_a, only_b, counted_a, counted_b = _paired(_chunks(rows, 700), _chunks(changed, 650), window)
        assert counted_a + len(only_a) == len(rows) and counted_b + len(only_b) == len(changed)
        assert counted_a == counted_b  # the rows paired off are the same rows on both sides
        left = Counter(rows) - Counter(changed)
        right = Counter(changed) - Counter(rows)
        assert Counter(only_a) - Counter(only_b) == left and Counter(only_b) - Counter(only_a) == right
        if window > 4096:
            assert counted_a > 4500  # nearly everything paired off; the chunks' edges and the changes are not
    same = [b"1\tx\n"] * 50  # one row many times: segments that repeat are paired one for one
    only_a, only_b, counted_a, counted_b = _paired(_chunks(same, 7), _chunks(same[:45], 9), 1 << 30)
    assert counted_a + len(only_a) == 50 and counted_b + len(only_b) == 45
    assert len(only_a) - len(only_b) == 5 and counted_a == counted_b


def test_segments_cut_rows_by_content():
    from recovery_console.engine.forensics.diff_segments import segments

    rows = b"".join(f"{n}\tevent {n}\n".encode() for n in range(5000))
    cut = segments(rows)
    assert cut.rows().sum() == 5000 and 80 < len(cut.hashes) < 300  # about one cut in 32 rows
    assert cut.ends[-1] == len(rows) and (cut.starts[1:] == cut.ends[:-1]).all()
    assert segments(b"").hashes.size == 0 and segments(b"1\n").rows().tolist() == [1]
