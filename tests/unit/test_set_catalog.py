"""A set's state from what its target lists (engine/sets/set_catalog.py): the sync on a real local folder, and the
judge's rules, no server needed."""

from __future__ import annotations

import json
from pathlib import Path

from recovery_console.engine.sets.manifest import SetManifest
from recovery_console.engine.sets.set_catalog import COMPLETE, DAMAGED, UNKNOWN, SetCatalog
from recovery_console.engine.storage.local import LocalStorage

FOLDER = "sets/rc_set_20261207-08-00-00-0.1.0-manual-5e7a0c1d/"
VECTOR = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "sets" / "set_manifest.json").read_text())


def _store(tmp_path: Path, files: dict[str, bytes]) -> LocalStorage:
    storage = LocalStorage("t", tmp_path / "target")
    for name, data in files.items():
        storage.put_bytes(FOLDER + name, data)
    return storage


def _sidecar(*members: str) -> bytes:
    return ("\n".join([f"{'0' * 64}  manifest.enc"] + [f"{'1' * 64}  {m}" for m in members]) + "\n").encode()


def test_a_folder_without_its_manifest_is_unfinished_and_never_a_set(console, tmp_path):
    storage = _store(tmp_path, {"01-database.enc": b"x", "01-database.enc.sha256": b"y"})
    sets = SetCatalog(console.catalog)
    synced = sets.sync(storage)
    assert sets.records() == [] and synced.sets == 0
    assert [u.folder for u in synced.unfinished] == [FOLDER] and len(synced.unfinished[0].keys) == 2


def test_members_named_by_the_sidecar_must_all_be_there(console, tmp_path):
    files = {"manifest.enc": b"m", "manifest.enc.sha256": _sidecar("01-database.enc", "02-folder.enc"),
             "01-database.enc": b"a", "01-database.enc.sha256": b"s", "02-folder.enc": b"b",
             "02-folder.enc.sha256": b"s"}
    storage = _store(tmp_path, files)
    sets = SetCatalog(console.catalog)
    sets.sync(storage)
    [record] = sets.records()
    assert (record.state, record.short_id, record.member_files) == (COMPLETE, "5e7a0c1d",
                                                                   ("01-database.enc", "02-folder.enc"))
    storage.delete(FOLDER + "02-folder.enc")
    sets.sync(storage)
    [record] = sets.records()
    assert record.state == DAMAGED and record.problems == ("member file 02-folder.enc is missing",)
    storage.delete(FOLDER + "01-database.enc.sha256")
    sets.sync(storage)
    assert "member file 01-database.enc has no .sha256 sidecar" in sets.records()[0].problems


def test_a_known_manifest_judges_sizes_and_a_missing_sidecar_leaves_the_set_unknown(console, tmp_path):
    manifest = VECTOR["manifest"]
    files = {"manifest.enc": b"m"}
    for member in manifest["members"]:
        files[member["key"]] = b"z" * member["size"]
        files[member["key"] + ".sha256"] = b"s"
    storage = _store(tmp_path, files)
    sets = SetCatalog(console.catalog)
    sets.sync(storage)
    assert sets.records()[0].state == UNKNOWN  # no sidecar, no manifest read: verify it with the key
    sets.remember_manifest("t", FOLDER, SetManifest.from_json(json.dumps(manifest).encode()))
    assert sets.records()[0].state == COMPLETE
    storage.put_bytes(FOLDER + "03-folder.enc", b"short")
    sets.sync(storage)
    [record] = sets.records()
    assert record.state == DAMAGED and record.problems == ("member file 03-folder.enc is 5 bytes; the manifest says "
                                                           "10,240",)
    sets.remember_verify("t", FOLDER, "failed", "chunk 3 failed authentication")
    assert "its last verify failed: chunk 3 failed authentication" in sets.records()[0].problems
    storage.delete(FOLDER + "manifest.enc")  # a set listed complete, its manifest gone: damaged, never swept
    assert not sets.sync(storage).unfinished
    [record] = sets.records()
    assert record.state == DAMAGED and "its manifest file manifest.enc is missing" in record.problems
