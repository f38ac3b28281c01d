"""The restore history file: entries kept per profile across reloads, updated in place, refused plainly when damaged,
and never losing an entry when several processes record at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.state import restore_history as store
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import CatalogError, ExitCode, NotFoundError
from recovery_console.models.target import TargetConfig


def make(profile: str = "p", previous: str | None = "db__pre_restore_20261207010203") -> store.HistoryEntry:
    return store.HistoryEntry(store.new_id(), store.now(), profile, "db", "127.0.0.1:5432/db", "971f67e4",
                              "vault:backups/x.enc", store.IN_PLACE, store.SUCCEEDED,
                              previous=previous, previous_oid=16384 if previous else None)


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    return AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data").ensure()


def test_entries_are_kept_per_profile_newest_first_and_found_by_id_or_name(paths: AppPaths) -> None:
    first, second, other = make(), make(previous="db__pre_restore_20261207020304"), make("q")
    for entry in (first, second, other):
        store.add(paths, entry)
    assert [e.id for e in store.entries(paths, "p")] == [second.id, first.id]
    assert [e.id for e in store.entries(paths, "q")] == [other.id]
    assert store.entries(paths, "nobody") == []
    assert store.find(paths, "p", first.id) == first
    assert store.find(paths, "p", "db__pre_restore_20261207020304").id == second.id
    with pytest.raises(NotFoundError):
        store.find(paths, "p", other.id)
    assert oct(store.history_file(paths, "p").parent.stat().st_mode & 0o777) == "0o700"


def test_update_changes_only_the_matching_entry_and_stamps_it(paths: AppPaths) -> None:
    first, second = make(), make(previous="db__pre_restore_20261207020304")
    store.add(paths, first)
    store.add(paths, second)
    changed = store.update(paths, "p", lambda e: e.id == first.id, result=store.ROLLED_BACK, undone="db__undone_1")
    assert changed == 1
    by_id = {e.id: e for e in store.entries(paths, "p")}
    assert by_id[first.id].result == store.ROLLED_BACK and by_id[first.id].undone == "db__undone_1"
    assert by_id[first.id].changed
    assert by_id[second.id].result == store.SUCCEEDED and not by_id[second.id].changed
    assert store.update(paths, "p", lambda e: False, result=store.DROPPED) == 0


@pytest.mark.parametrize("text", ["{not json", "[]", '{"entries": [{"id": "x"}]}', '{"entries": 3}',
                                  '{"entries": [{"id": 1, "time": "t", "profile": "p", "database": "d", '
                                  '"identity": "i", "backup_id": null, "backup_key": "", "mode": "m", '
                                  '"result": "succeeded"}]}'])
def test_a_damaged_file_is_refused_naming_it_and_left_as_it_was(paths: AppPaths, text: str, capsys) -> None:
    path = store.history_file(paths, "p")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        store.entries(paths, "p")
    assert str(path) in caught.value.message and caught.value.hint
    with pytest.raises(CatalogError):
        store.add(paths, make())
    assert path.read_text() == text


def test_the_cli_reports_a_damaged_history_without_a_traceback(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path / "home"))
    console = Console(AppPaths.default())
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path)}))
    console.profiles.create("p", "postgresql://u@127.0.0.1:1/db", target="vault")
    path = store.history_file(console.paths, "p")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{torn")
    code = main(["restore", "history", "--profile", "p"])
    out, err = capsys.readouterr()
    assert code == ExitCode.ERROR
    assert str(path) in err and "Traceback" not in out + err


def _record_many(data_dir: str, worker: int, count: int) -> None:
    paths = AppPaths(config_dir=Path(data_dir) / "config", data_dir=Path(data_dir))
    for i in range(count):
        store.add(paths, make(previous=f"db__pre_restore_{worker:02d}{i:04d}"))


def test_concurrent_writers_lose_no_entry(paths: AppPaths) -> None:
    workers, count = 4, 25
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_record_many, args=(str(paths.data_dir), w, count)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    names = {e.previous for e in store.entries(paths, "p")}
    assert len(names) == workers * count
