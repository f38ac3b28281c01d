"""COPY text decoding, CSV / JSON lines encoding, column parsing and the search prefilter, byte for byte."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import shutil
import subprocess

import pytest

from recovery_console.engine.archive.copy_text import complete_lines, decode_field, encode_value, split_row
from recovery_console.engine.archive.lz4_stream import unlz4
from recovery_console.engine.archive.table_columns import (
    Column,
    archive_encoding,
    copy_columns,
    create_table_columns,
)
from recovery_console.engine.archive.table_data import ArchiveTable, find_table
from recovery_console.engine.forensics.row_formats import CsvFormat, JsonLinesFormat, row_format
from recovery_console.engine.forensics.table_search import Matcher, chunk_hits
from recovery_console.errors import IntegrityError, NotFoundError, UsageError

# (raw COPY text field, the value the server stores)
FIELDS = [
    (b"\\N", None),
    (b"", b""),
    (b"plain", b"plain"),
    (b"\\\\N", b"\\N"),
    (b"a\\tb", b"a\tb"),
    (b"a\\nb", b"a\nb"),
    (b"a\\rb", b"a\rb"),
    (b"\\\\", b"\\"),
    (b"\\b\\f\\v", b"\x08\x0c\x0b"),
    (b"\\101\\1\\01\\7\\0", b"A\x01\x01\x07\x00"),
    (b"\\400", b"\x00"),  # three octal digits, taken modulo 256 as the server does
    (b"\\1234", b"S4"),  # at most three digits
    (b"\\x41\\x4a\\xff", b"AJ\xff"),
    (b"\\x4", b"\x04"),
    (b"\\x4g", b"\x04g"),
    (b"\\xg", b"xg"),  # \x without a hex digit is just x
    (b"\\q\\.\\,", b"q.,"),  # any other character stands for itself
    (b"\\8\\9", b"89"),
    (b"trailing\\", b"trailing"),
    ("ünï 中文 🙂".encode(), "ünï 中文 🙂".encode()),
    ("e\u0301\\t✓".encode(), "e\u0301\t✓".encode()),
    (b'say "hi", ok', b'say "hi", ok'),
    (b"\\\\x00ff", b"\\x00ff"),  # bytea's hex form, as COPY text writes it
]


@pytest.mark.parametrize(("raw", "value"), FIELDS)
def test_each_escape_decodes_as_the_server_does(raw, value):
    assert decode_field(raw) == value


def test_a_row_splits_on_raw_tabs_only():
    assert split_row(b"1\t\\N\t\ta\\tb\t\\\\N") == [b"1", None, b"", b"a\tb", b"\\N"]
    assert split_row(b"") == [b""]


@pytest.mark.parametrize("value", ["plain", "tab\there", "nl\nx", "cr\r", "back\\slash", "\b\f\v", "\\N", "ü ✓"])
def test_encoding_a_value_round_trips(value):
    raw = encode_value(value).encode()
    assert b"\t" not in raw and b"\n" not in raw
    assert decode_field(raw) == value.encode()


# (COPY text row, its CSV line: every value quoted, NULL an empty unquoted field) for a three-column table
CSV_ROWS = [
    (b"1\tplain\tx", b'"1","plain","x"'),
    (b"2\t\\N\t", b'"2",,""'),  # NULL and the empty string stay apart
    (b'3\tsay "hi"\ta,b', b'"3","say ""hi""","a,b"'),
    (b"4\tline\\nbreak\tcr\\r", b'"4","line\nbreak","cr\r"'),
    (b"5\ttab\\there\t\\\\.", b'"5","tab\there","\\."'),
    (b"6\t\\\\N\tNULL", b'"6","\\N","NULL"'),  # the text \N is not NULL
    ("7\tünï\t🙂".encode(), '"7","ünï","🙂"'.encode()),
    (b"8\t\\x41\\101\t\\\\x00ff", b'"8","AA","\\x00ff"'),
    (b'9\t","\t\\N', b'"9",""",""",'),  # a value that is a delimiter's text
    (b"\\N\t\\N\t\\N", b",,"),
    (b"\\x22\\042\t\\\"x\\\"\ttrailing\\", b'"""""","""x""","trailing"'),  # escapes giving quotes, a lone backslash
    (b"\\q\\,\\x4g\\400\t\\1234\t\\xg\\8", b'"q,\x04g\x00","S4","xg8"'),
    (b'\\N"\tx""\\N\t\\\\\\N', b'"N""","x""""N","\\N"'),  # \N inside a value is not NULL
]


@pytest.mark.parametrize(("copy", "csv"), CSV_ROWS)
def test_csv_quotes_every_value(copy, csv):
    assert CsvFormat(["id", "a", "b"], "utf-8").rows(copy + b"\n") == csv + b"\n"


def test_csv_of_a_whole_chunk_is_the_rows_joined():
    chunk = b"".join(copy + b"\n" for copy, _ in CSV_ROWS)
    assert CsvFormat(["id", "a", "b"], "utf-8").rows(chunk) == b"".join(csv + b"\n" for _, csv in CSV_ROWS)
    for fmt in (CsvFormat(["id", "a", "b"], "utf-8"), JsonLinesFormat(["id", "a", "b"], "utf-8"), row_format(
            "copy", [], "utf-8"), CsvFormat([], "utf-8")):
        assert fmt.pieces(chunk)[0] == len(CSV_ROWS)  # escaped newlines are not rows
    assert CsvFormat(["id", "a"], "utf-8").rows(b"1\ta\n2\tb\n") == b'"1","a"\n"2","b"\n'


def test_csv_keeps_decoded_tabs_nuls_and_crs_inside_their_quotes():
    fmt = CsvFormat(["a", "b"], "utf-8")
    assert fmt.rows(b"x\\ty\t,\n") == b'"x\ty",","\n'
    assert fmt.rows(b"x\\ty\t\\000,\n") == b'"x\ty","\x00,"\n'
    assert fmt.rows(b"\x00\\t\t\\N\n") == b'"\x00\t",\n'
    assert fmt.rows(b"a\rb\t\\r\n") == b'"a\rb","\r"\n'


def test_csv_header_and_the_one_column_table():
    fmt = CsvFormat(["v"], "utf-8")
    assert fmt.rows(b"\\\\.\n\n\\N\nx\n") == b'"\\."\n""\n\n"x"\n'
    assert CsvFormat(['odd, "name"', "plain", "ü"], "utf-8").header() == b'"odd, ""name""",plain,\xc3\xbc\n'
    assert CsvFormat([], "utf-8").rows(b"\n\n") == b"\n\n"


def test_json_lines_key_values_by_column_with_null():
    out = JsonLinesFormat(["id", "t", "b"], "utf-8").rows(b"1\t\\N\ta\\tb\n2\t\xc3\xbc\t\\\\x00\n")
    assert [json.loads(line) for line in out.decode().splitlines()] == [
        {"id": "1", "t": None, "b": "a\tb"}, {"id": "2", "t": "ü", "b": "\\x00"}]
    latin = JsonLinesFormat(["t"], "latin-1").rows(b"\xe9\n")
    assert json.loads(latin) == {"t": "é"}


def test_an_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="csv, jsonl, copy"):
        row_format("xml", [], "utf-8")


def test_complete_lines_regroups_pieces_into_whole_rows():
    pieces = [b"1\ta", b"b\n2\t", b"", b"c\n3\td\n", b"4\tno newline"]
    assert list(complete_lines(iter(pieces))) == [b"1\tab\n", b"2\tc\n3\td\n", b"4\tno newline\n"]
    assert b"".join(complete_lines(iter([b"1\n2\n\\.\n", b"ignored\n"]))) == b"1\n2\n"
    assert list(complete_lines(iter([b"\\.\n"]))) == []


def test_columns_from_the_copy_statement_and_create_table():
    stmt = 'COPY "Odd ""S"" x"."t, 1" (id, "Mixed Case, ""col""", "select", plain) FROM stdin;\n'
    assert copy_columns(stmt) == ["id", 'Mixed Case, "col"', "select", "plain"]
    assert copy_columns("COPY public.nocols  FROM stdin;\n") == []
    assert copy_columns("SELECT 1") is None
    defn = ('CREATE TABLE public.t (\n    id integer NOT NULL,\n    "Name, x" character varying(20) '
            "COLLATE pg_catalog.\"C\",\n    n numeric(12,2) DEFAULT 0 NOT NULL,\n    ts timestamp with time zone,\n"
            "    CONSTRAINT positive CHECK ((n > (0)::numeric))\n);\n")
    assert create_table_columns(defn) == [Column("id", "integer"), Column("Name, x", "character varying(20)"),
                                          Column("n", "numeric(12,2)"), Column("ts", "timestamp with time zone")]
    assert create_table_columns("CREATE TABLE public.p PARTITION OF public.q\nFOR VALUES IN (1);\n") == []
    assert archive_encoding("SET client_encoding = 'LATIN1';\n") == ("LATIN1", "latin-1")
    assert archive_encoding("") == ("UTF8", "utf-8")


def test_an_unknown_table_lists_the_closest_names():
    tables = [ArchiveTable("shop", "orders", (), 1, True), ArchiveTable("audit", "orders", (), 2, True),
              ArchiveTable("public", "events", (), 3, True)]
    assert find_table(tables, "public.events").data_id == 3
    assert find_table(tables, "events").data_id == 3
    with pytest.raises(NotFoundError, match="Several schemas") as many:
        find_table(tables, "orders")
    assert "Name it as SCHEMA.NAME" in many.value.hint
    with pytest.raises(NotFoundError, match="Did you mean: public.events"):
        find_table(tables, "public.event")


TABLE = ArchiveTable("public", "t", (Column("id"), Column("note"), Column("raw")), 1, True)
CHUNK = b"1\tfirst\t\\N\n2\tsay 203.0.113.77\tx\n3\ttab\\there\t203.0.113.77\n4\tMALLORY\t\\\\x41\n"


def _hits(matcher, chunk=CHUNK, first=1):
    return [(h.row, h.column, h.excerpt[h.start:h.end]) for h in chunk_hits(TABLE, chunk, first, matcher, "utf-8")]


def test_search_reports_row_and_column_with_and_without_the_prefilter():
    literal = Matcher("203.0.113.77")
    assert literal.prefilter is not None
    assert _hits(literal) == [(2, "note", "203.0.113.77"), (3, "raw", "203.0.113.77")]
    assert _hits(literal, first=101) == [(102, "note", "203.0.113.77"), (103, "raw", "203.0.113.77")]
    assert _hits(Matcher("tab\there")) == [(3, "note", "tab\there")]  # found through its escaped form
    assert _hits(Matcher("\\x41")) == [(4, "raw", "\\x41")]
    assert _hits(Matcher("mallory", ignore_case=True)) == [(4, "note", "MALLORY")]
    regex = Matcher(r"\d+\.\d+\.113\.\d+", regex=True)
    assert regex.prefilter is None
    assert _hits(regex) == [(2, "note", "203.0.113.77"), (3, "raw", "203.0.113.77")]
    assert _hits(Matcher("N")) == []  # NULL's \N is no value
    escaped = b"1\t\\N\t\\\\N\n2\tline\\none\\r\\\\\tx\n"  # NULL and the text \N; a newline, CR and backslash
    assert _hits(Matcher("\\N"), escaped) == [(1, "raw", "\\N")]
    assert _hits(Matcher("line\none\r\\"), escaped) == [(2, "note", "line\none\r\\")]
    assert _hits(Matcher("E\nO", ignore_case=True), escaped) == [(2, "note", "e\no")]
    with pytest.raises(UsageError, match="does not compile"):
        Matcher("([", regex=True)
    with pytest.raises(UsageError, match="empty"):
        Matcher("")


def test_a_long_value_is_cut_around_the_match():
    long = b"x" * 1000 + b"needle" + b"y" * 1000
    (hit,) = chunk_hits(TABLE, b"1\t" + long + b"\t\\N\n", 1, Matcher("needle"), "utf-8")
    assert hit.excerpt[hit.start:hit.end] == "needle" and hit.value_length == 2006
    assert hit.excerpt_offset == 850 and len(hit.excerpt) == 306


@pytest.mark.skipif(shutil.which("lz4") is None, reason="the lz4 command-line tool makes the frames")
@pytest.mark.parametrize("options", [["-BD"], ["-B4", "--content-size"], ["-BX", "-BD"], ["-1"], ["-9"]])
def test_lz4_frames_decode_like_the_reference_tool(options, tmp_path):
    data = b"".join(b"%d\tevent %d\t\\\\x%06x\n" % (i, i % 97, i * 7919) for i in range(60000)) + bytes(range(256)) * 50
    source = tmp_path / "in"
    source.write_bytes(data)
    subprocess.run(["lz4", "-q", "-f", *options, str(source), str(tmp_path / "out.lz4")], check=True)
    frames = (tmp_path / "out.lz4").read_bytes() * 2  # two frames back to back, as pg_dump writes per flush
    pieces = [frames[i:i + 7000] for i in range(0, len(frames), 7000)]
    assert b"".join(unlz4(iter(pieces), "test")) == data * 2


def test_damaged_lz4_is_an_integrity_error():
    with pytest.raises(IntegrityError, match="does not decompress"):
        list(unlz4(iter([gzip.compress(b"x")]), "t"))
    frame = bytes.fromhex("04224d18") + b"\x60\x40\x82" + (5).to_bytes(4, "little") + b"\x50abc"
    with pytest.raises(IntegrityError, match="ends early"):
        list(unlz4(iter([frame]), "t"))
    bad_offset = bytes.fromhex("04224d18") + b"\x60\x40\x82" + (4).to_bytes(4, "little") + b"\x10a\x09\x00" + bytes(4)
    with pytest.raises(IntegrityError, match="does not decompress"):
        list(unlz4(iter([bad_offset]), "t"))


@pytest.mark.parametrize("kind", ["escapes", "plain", "controls"])
@pytest.mark.parametrize("columns", [1, 2, 5])
def test_chunk_wide_csv_equals_the_field_by_field_reference(columns, kind):
    """Random values of awkward characters: the whole-chunk CSV passes give exactly each decoded value quoted
    (NULL left empty), and Python's csv module reads the values back."""
    rng = random.Random(columns)
    escapes = kind == "escapes"
    alphabet = ["a", "ü", ",", '"', ".", "N", " ", "", "x,y", '""', '","', "\x07", "\x0e"]
    if escapes:
        alphabet += ["\t", "\n", "\r", "\\", "\\.", "\\N", "\b", "\x0b", '\\"', "\\\t"]
    if kind == "controls":
        alphabet += ["\x01", "\x05", "\x00"]

    def value() -> str | None:
        if escapes and rng.random() < 0.15:
            return None
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 1, 2, 3, 6])))

    rows = [[value() for _ in range(columns)] for _ in range(3000)]
    chunk = b"".join(b"\t".join(b"\\N" if v is None else encode_value(v).encode() for v in row) + b"\n"
                     for row in rows)
    assert (b"\\" in chunk) == escapes
    expected = b"".join(b",".join(b"" if v is None else b'"' + v.encode().replace(b'"', b'""') + b'"' for v in row)
                        + b"\n" for row in rows)
    out = CsvFormat([f"c{i}" for i in range(columns)], "utf-8").rows(chunk)
    assert out == expected
    read = list(csv.reader(io.StringIO(out.decode(), newline="")))
    assert [values or [""] for values in read] == [["" if v is None else v for v in row] for row in rows]


def test_rows_are_regrouped_whole_wherever_the_pieces_are_cut():
    data = b"".join(b"%d\tv\\\\N\\t%s\n" % (i, b"x" * (i % 50)) for i in range(3000))
    for run in (0, 7, 1000, 1 << 20):
        for cuts in ([1], [3, 997, 4096], [len(data) - 1]):
            pieces, at = [], 0
            for cut in [*cuts, len(data)]:
                pieces.append(data[at:cut])
                at = cut
            chunks = list(complete_lines(iter(pieces), run))
            assert b"".join(chunks) == data and all(c.endswith(b"\n") for c in chunks)
    assert list(complete_lines(iter([b"a\n\\", b".\n\n"]), 100)) == [b"a\n"]
    assert list(complete_lines(iter([b"a\nb"]), 100)) == [b"a\nb\n"]
    assert list(complete_lines(iter([b"a\n\\."]), 100)) == [b"a\n"]
    assert list(complete_lines(iter([b"\\.\n"]), 0)) == []


def test_a_search_hit_is_shown_without_the_data_s_control_characters():
    from recovery_console.cli.search_cmd import MARK_OFF, MARK_ON, human_hit

    value = "\x1b[2Jwiped\nIOC\x07here\u202e"
    (hit,) = chunk_hits(TABLE, b"1\t" + encode_value(value).encode() + b"\t\\N\n", 1, Matcher("IOC"), "utf-8")
    plain = human_hit(hit, colour=False)
    assert plain == "public.t row 1 column note: \\x1b[2Jwiped\\n[IOC]\\x07here\\u202e"
    coloured = human_hit(hit, colour=True)
    assert coloured.count("\x1b") == 2 and f"{MARK_ON}IOC{MARK_OFF}" in coloured


def test_lz4_skippable_frames_and_frames_split_anywhere_decode():
    import lz4.frame

    data = b"".join(b"%d\trow\n" % i for i in range(20000))
    frame = lz4.frame.compress(data, content_checksum=True)
    skippable = (0x184D2A5F).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    stream = frame + skippable + frame
    pieces = [stream[:3], stream[3:4097], stream[4097:]]  # a frame header split, a frame ending inside a piece
    assert b"".join(unlz4(iter(pieces), "t")) == data * 2
    damaged = bytearray(frame)
    damaged[len(frame) // 2] ^= 0xFF
    with pytest.raises(IntegrityError, match="does not decompress"):
        list(unlz4(iter([bytes(damaged)]), "t"))
