"""Browsing a table's rows in bounded memory: compressed pages, any row by index, decoded as the server stores it."""

from __future__ import annotations

import threading

import pytest

from recovery_console.engine.forensics.row_pages import PAGE_BYTES, RowPages
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import NotFoundError


def lines(first: int, last: int) -> bytes:
    return b"".join(b"%d\tevent number %d from 10.0.0.%d\t\\N\n" % (n, n, n % 250) for n in range(first, last))


PAGE_ROWS = PAGE_BYTES // len(lines(5000, 5001)) + 1  # rows of this shape that fill a page


def test_rows_become_readable_a_page_at_a_time_and_the_last_part_page_on_finish():
    pages = RowPages(["id", "note", "gone"], "utf-8")
    assert pages.add(lines(0, 10)) == 0  # not a whole page yet: nothing to show
    assert pages.add(lines(10, PAGE_ROWS + 10)) == PAGE_ROWS + 10
    assert pages.add(lines(PAGE_ROWS + 10, PAGE_ROWS + 20)) == PAGE_ROWS + 10
    assert pages.finish() == PAGE_ROWS + 20
    assert pages.row(0) == ["0", "event number 0 from 10.0.0.0", None]
    assert pages.row(PAGE_ROWS + 19)[1] == f"event number {PAGE_ROWS + 19} from 10.0.0.{(PAGE_ROWS + 19) % 250}"
    with pytest.raises(IndexError):
        pages.raw(PAGE_ROWS + 20)


def test_a_large_table_is_kept_compressed_and_every_row_is_found_by_index():
    pages = RowPages(["id", "note", "gone"], "utf-8")
    total = 40 * PAGE_ROWS + 7
    for start in range(0, total, 5000):  # chunks that do not line up with pages
        pages.add(lines(start, min(start + 5000, total)))
    pages.finish()
    kept, text = pages.memory
    assert pages.count == total and text == len(lines(0, total))
    assert kept * 4 < text
    for index in (0, 1, PAGE_ROWS - 1, PAGE_ROWS, 17 * PAGE_ROWS + 3, total - 1, 5):
        assert pages.row(index)[0] == str(index)


def test_values_are_decoded_as_copy_text_and_unreadable_bytes_are_kept_visible():
    pages = RowPages(["a", "b", "c"], "utf-8")
    pages.add(b"tab\\there\tnew\\nline \\\\ \\101\t\\N\n\xff\xfe raw\t\\x41\t\n")
    pages.finish()
    assert pages.row(0) == ["tab\there", "new\nline \\ A", None]
    assert pages.row(1) == ["\\xff\\xfe raw", "A", ""]


def test_a_reader_sees_only_whole_pages_while_a_writer_adds_more():
    pages = RowPages(["id", "note", "gone"], "utf-8")
    total = 30 * PAGE_ROWS
    seen: list[str] = []

    def write() -> None:
        for start in range(0, total, 3000):
            pages.add(lines(start, min(start + 3000, total)))
        pages.finish()

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive() or len(seen) < pages.count:
        count = pages.count
        if count:
            seen.append(str(count - 1))
            assert pages.row(count - 1)[0] == str(count - 1)
    writer.join()
    assert pages.count == total and seen


def test_browse_reads_one_table_of_an_archive_and_writes_its_audit_entry(console, sample_dump):
    bench = Workbench(console)
    announced: list[int] = []
    pages = bench.browse(bench.locate(str(sample_dump)), str, "shop.customers",
                         on_rows=lambda p: announced.append(p.count))
    assert pages.count == 37 and announced[-1] == 37 and announced == sorted(announced)
    assert pages.columns == ["id", "name", "balance", "joined"]
    assert pages.row(0)[:3] == ["1", "customer 1", "12.50"]
    entry = [e for e in console.audit.entries() if e.action == "forensics.browse"][-1]
    assert entry.result == "ok" and entry.detail["rows"] == 37 and entry.detail["table"] == "shop.customers"


def test_browse_of_an_empty_table_has_no_rows_and_an_unknown_one_names_the_closest(console, sample_dump):
    bench = Workbench(console)
    ref = bench.locate(str(sample_dump))
    assert bench.browse(ref, str, "audit.empty_log", on_rows=lambda p: None).count == 0
    with pytest.raises(NotFoundError, match="Did you mean: shop.customers"):
        bench.browse(ref, str, "shop.customer", on_rows=lambda p: None)
