"""A local target's hidden temp files: one a killed writer left behind is removed by the next listing; a live
write's is not, however old it looks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from recovery_console.engine.storage.base import TEMP_PREFIX
from recovery_console.engine.storage.local import ABANDONED_AFTER, LocalStorage

WRITER = """
import sys, time
from pathlib import Path
from recovery_console.engine.storage.local import LocalStorage
upload = LocalStorage("t", Path(sys.argv[1])).open_upload("backups/x.enc")
upload.write(b"partial ciphertext")
print("writing", flush=True)
time.sleep(600)
"""


def backdate(path: Path) -> None:
    old = time.time() - ABANDONED_AFTER - 5
    os.utime(path, (old, old))


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{TEMP_PREFIX}*"))


def test_a_killed_writers_temp_file_is_removed_by_the_next_listing(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    storage = LocalStorage("t", tmp_path)
    [left] = parts(tmp_path / "backups")
    backdate(left)
    assert list(storage.list("backups/")) == [] and parts(tmp_path / "backups") == [left]  # alive: kept
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert parts(tmp_path / "backups") == [left]
    assert list(storage.list("backups/")) == [] and parts(tmp_path / "backups") == []


def test_a_fresh_unlocked_temp_file_is_left_for_its_writer_and_a_commit_is_listed(tmp_path):
    storage = LocalStorage("t", tmp_path)
    (tmp_path / "backups").mkdir()
    young = tmp_path / "backups" / f"{TEMP_PREFIX}young"
    young.write_bytes(b"x")
    upload = storage.open_upload("backups/b.enc")
    upload.write(b"whole")
    backdate(upload.tmp)
    assert [o.key for o in storage.list("backups/")] == [] and young.exists() and upload.tmp.exists()
    upload.commit()
    assert [o.key for o in storage.list("backups/")] == ["backups/b.enc"] and young.exists()
    assert (tmp_path / "backups" / "b.enc").read_bytes() == b"whole"
