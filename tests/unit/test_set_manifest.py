"""The recovery-set manifest (docs/FORMAT.md 19): its committed vector, decoded by the project's reader and by the
spec-only reference decoder, and the manifest rules a damaged or crafted manifest breaks."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from recovery_console.engine.sets.manifest import SetManifest, open_manifest, seal_manifest
from recovery_console.engine.sets.set_naming import member_file, parse_set_key, set_folder
from recovery_console.errors import IntegrityError, WrongKeyError
from tests.unit.test_vectors import reference_decode

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "sets"
INDEX = json.loads((VECTORS / "set_manifest.json").read_text("utf-8"))
DATA = (VECTORS / "set_manifest.enc").read_bytes()


def _generator():
    spec = importlib.util.spec_from_file_location("rc_make_set_vector", VECTORS / "make_set_vector.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_generator_reproduces_the_committed_vector():
    data, index = _generator().build()
    assert data == DATA
    assert index == (VECTORS / "set_manifest.json").read_text("utf-8")


def test_the_project_reader_opens_the_vector():
    opened = open_manifest(io.BytesIO(DATA), INDEX["secret"])
    assert json.loads(opened.manifest.to_json()) == INDEX["manifest"]
    assert opened.sha256 == INDEX["file_sha256"] and opened.size == INDEX["file_size"] == len(DATA)
    assert [m.key for m in opened.manifest.members] == ["01-database.enc", "02-database.enc", "03-folder.enc"]
    assert opened.manifest.consistency == "separate-snapshots"


def test_the_reference_decoder_reads_the_vector_from_the_spec_alone():
    metadata, plaintext = reference_decode(DATA, INDEX["secret"])
    assert metadata == INDEX["metadata"] and metadata["set_manifest"] == 1
    assert json.loads(plaintext) == INDEX["manifest"]
    assert plaintext == json.dumps(INDEX["manifest"], sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False).encode("utf-8")
    assert len(plaintext) == INDEX["plaintext_length"]


def test_a_wrong_secret_and_a_flipped_byte_are_refused():
    with pytest.raises(WrongKeyError):
        open_manifest(io.BytesIO(DATA), INDEX["secret"] + "x")
    damaged = bytearray(DATA)
    damaged[200] ^= 1
    with pytest.raises(IntegrityError):
        open_manifest(io.BytesIO(bytes(damaged)), INDEX["secret"])


def _changed(change) -> bytes:
    data = json.loads(json.dumps(INDEX["manifest"]))
    change(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize("change", [
    lambda d: d["members"].pop(1),                                   # indexes no longer 1..n
    lambda d: d["members"][0].update(key="01-folder.enc"),           # the file does not match kind and index
    lambda d: d["members"][1].update(name="config"),                 # a name twice
    lambda d: d["members"][0].update(sha256="AB" * 32),              # not lowercase hex
    lambda d: d["members"][0].update(size=-1),
    lambda d: d["members"][0].update(size=True),
    lambda d: d["members"][2].pop("folder"),
    lambda d: d.update(members=[]),
    lambda d: d.update(version=2),
    lambda d: d.update(format="something else"),
], ids=["gap", "key", "dup-name", "hex", "negative", "bool", "missing", "empty", "version", "format"])
def test_malformed_manifests_are_refused(change):
    with pytest.raises(IntegrityError):
        SetManifest.from_json(_changed(change))


def test_a_manifest_round_trips_and_keeps_unknown_fields():
    data = json.loads(json.dumps(INDEX["manifest"]))
    data["future_field"] = {"a": 1}
    parsed = SetManifest.from_json(json.dumps(data).encode())
    assert json.loads(parsed.to_json()) == data
    sealed = seal_manifest(parsed, "s", iterations=1000)
    assert open_manifest(io.BytesIO(sealed.data), "s").manifest == parsed


def test_set_names():
    folder = set_folder("5e7a0c1d-2b3f-4a5e-9d8c-7b6a59483726", "2026-12-07T08:00:00Z", "0.1.0-dev", "manual")
    assert folder == "sets/rc_set_20261207-08-00-00-0.1.0_dev-manual-5e7a0c1d/"
    parsed = parse_set_key(folder + member_file(3, "folder"))
    assert parsed is not None and parsed[1] == "03-folder.enc" and parsed[0].short_id == "5e7a0c1d"
    assert parse_set_key("sets/other/x.enc") is None and parse_set_key(folder + "a/b") is None
