"""Issue #14 point 11: many processes syncing the same target into one catalog at once.

Before the fix, 12 processes listing a target into a fresh catalog crashed with
`sqlite3.IntegrityError: UNIQUE constraint failed` in most rounds (and 1 round in 20 with 2).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from recovery_console.engine.state.catalog import Catalog
from recovery_console.engine.storage.local import LocalStorage

PROCESSES = 12
ROUNDS = 5
BACKUPS = 40


def _fill_target(folder: Path) -> None:
    backups = folder / "backups"
    backups.mkdir(parents=True)
    for i in range(BACKUPS):
        short_id = f"{i:08x}"
        (backups / f"rc_backup_20261202-05-{i // 60:02d}-{i % 60:02d}-0.1.0-manual-{short_id}.enc").write_bytes(
            b"x" * (100 + i))


def _sync(catalog_path: str, folder: str, start: multiprocessing.synchronize.Event,
          errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        start.wait(30)
        result = Catalog(Path(catalog_path)).sync(LocalStorage("shared", Path(folder)))
        errors.put(("ok", result.added + result.unchanged))
    except BaseException:  # noqa: BLE001 - every failure is what this test is looking for
        errors.put(("error", traceback.format_exc()))


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_twelve_processes_syncing_one_target_at_once(tmp_path: Path, round_number: int) -> None:
    folder = tmp_path / "target"
    _fill_target(folder)
    catalog_path = tmp_path / "catalog.sqlite3"  # fresh: every process finds every backup new
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_sync, args=(str(catalog_path), str(folder), start, results))
               for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    errors = [detail for status, detail in outcomes if status == "error"]
    assert errors == []
    assert [detail for _, detail in outcomes] == [BACKUPS] * PROCESSES  # each saw the whole, consistent listing
    records = Catalog(catalog_path).records()
    assert len(records) == BACKUPS and len({r.key for r in records}) == BACKUPS


def test_twelve_cli_listings_at_once(tmp_path: Path) -> None:
    """The same through the front door: `backup list` of one folder target from 12 processes, twice."""
    folder = tmp_path / "target"
    _fill_target(folder)
    env_home = tmp_path / "home"
    for _ in range(2):
        children = [subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "backup", "list",
                                      "--target", str(folder), "--json"],
                                     env={**os.environ, "RECOVERY_CONSOLE_HOME": str(env_home)},
                                     cwd=Path(__file__).resolve().parents[2],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    for _ in range(PROCESSES)]
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err.decode()
            assert out.count(b'"short_id"') == BACKUPS
