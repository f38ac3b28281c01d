"""The leftover scanner must be able to fail: planted leftovers are found, clean files are not, and the
progress parser reads the console's own progress line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from recovery_console.cli.common import TerminalProgress
from recovery_console.engine.progress import Phase, Progress
from tests.chaos.harness import PROGRESS, MiB, scan

pytestmark = pytest.mark.chaos

SECRET = "planted-instance-secret-7f3a"
PASSWORD = "planted-db-password-19c2"


def test_scanner_finds_planted_leftovers(tmp_path: Path) -> None:
    temp, target = tmp_path / "tmp", tmp_path / "target"
    (temp / "rc-pgpass-x").mkdir(parents=True)
    (target / "backups").mkdir(parents=True)
    (temp / ".out.dump.abc.part").write_bytes(b"\0" * 10)
    (temp / "rc-pgpass-x" / "pgpass").write_text(f"*:*:*:*:{PASSWORD}\n")
    (temp / "notes.txt").write_bytes(b"x" * (4 * MiB - 5) + SECRET.encode())  # straddles a read block
    (target / "backups" / "restore.bin").write_bytes(b"junk" + b"PGDMP" + b"\x01\x0e")
    (target / "whole.dump").write_bytes(b"PGDMP\x01\x0e")
    (target / "clean.enc").write_bytes(b"RCBK" + bytes(range(256)) * 64)

    findings = {(f.path.name, f.reason) for f in scan([temp, target], {"instance secret": SECRET,
                                                                        "database password": PASSWORD},
                                                       allowed_plaintext=[target / "whole.dump"])}

    assert findings == {
        (".out.dump.abc.part", "a leftover file named *.part"),
        ("pgpass", "a leftover file named pgpass"),
        ("pgpass", "holds the database password"),
        ("notes.txt", "holds the instance secret"),
        ("restore.bin", "holds plaintext (pg_dump magic PGDMP)"),
    }


def test_scanner_passes_a_clean_tree(tmp_path: Path) -> None:
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "b.enc").write_bytes(b"RCBK" + bytes(range(256)))
    assert scan([tmp_path], {"instance secret": SECRET}) == []


def test_progress_parser_reads_the_terminal_progress_line() -> None:
    out = io.StringIO()
    sink = TerminalProgress(out)
    sink(Progress(Phase.DECRYPT, done=12 * MiB, total=40 * MiB, elapsed=1.0))
    sink(Progress(Phase.ENCRYPT, done=3 * MiB, total=None, elapsed=1.0))
    found = [(m[1], m[2], m[3], m[4]) for m in PROGRESS.finditer(out.getvalue())]
    assert found == [("decrypt", "30.0", "12.0", "MiB"), ("encrypt", None, "3.0", "MiB")]
