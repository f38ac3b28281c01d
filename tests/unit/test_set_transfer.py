"""What a set's files must be, read without the key from its sidecars (set_transfer.plan_set): the plan that copy,
download and upload of a whole set check every file against, and the set sidecars it refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recovery_console.engine.sets.set_transfer import LocalSet, plan_set
from recovery_console.errors import IntegrityError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A set's folder as a target holds it: two members with their sidecars, the manifest and the set's sidecar."""
    files = {"01-database.enc": b"database member", "02-folder.enc": b"folder member" * 100, "manifest.enc": b"m"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        if name != "manifest.enc":
            (tmp_path / (name + ".sha256")).write_text(f"{_sha(data)}  {name}\n")
    (tmp_path / "manifest.enc.sha256").write_text("".join(f"{_sha(files[n])}  {n}\n" for n in
                                                          ("manifest.enc", "01-database.enc", "02-folder.enc")))
    return tmp_path


def test_the_plan_names_every_member_then_the_manifest_with_its_hash_and_size(folder):
    plan = plan_set(LocalSet(folder), None)
    assert [(f.name, f.size) for f in plan.files] == [("01-database.enc", 15), ("02-folder.enc", 1300),
                                                      ("manifest.enc", 1)]
    assert plan.manifest.sidecar == (folder / "manifest.enc.sha256").read_bytes()
    assert plan.members[0].sha256 == _sha(b"database member") and plan.checked_against == "sidecar"
    assert plan.size == 1316


def test_a_member_without_its_own_sidecar_gets_one_made_from_the_sets(folder):
    (folder / "01-database.enc.sha256").unlink()
    assert plan_set(LocalSet(folder), None).members[0].sidecar == \
        f"{_sha(b'database member')}  01-database.enc\n".encode()


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "manifest.enc.sha256").unlink(), "manifest.enc.sha256 is missing"),
    (lambda f: (f / "02-folder.enc").unlink(), "02-folder.enc is missing"),
    (lambda f: (f / "manifest.enc").unlink(), "manifest.enc is missing"),
    (lambda f: (f / "02-folder.enc.sha256").write_text(f"{_sha(b'other')}  02-folder.enc\n"), "disagrees"),
    (lambda f: (f / "manifest.enc.sha256").write_text("not a sha256sum line\n"), "sha256sum format"),
    (lambda f: (f / "manifest.enc.sha256").write_text(f"{_sha(b'm')}  manifest.enc\n{_sha(b'x')}  ../escape.enc\n"),
     "does not name the manifest and then its member files"),
    (lambda f: (f / "manifest.enc.sha256").write_text(f"{_sha(b'm')}  manifest.enc\n"),
     "does not name the manifest and then its member files"),
])
def test_a_set_whose_files_cannot_be_checked_is_refused(folder, damage, message):
    damage(folder)
    with pytest.raises(IntegrityError, match=message):
        plan_set(LocalSet(folder), None)


def test_a_manifest_that_is_not_the_one_the_sidecar_names_is_refused(folder):
    with pytest.raises(IntegrityError, match="manifest does not match"):
        plan_set(LocalSet(folder), None, manifest_sha256=_sha(b"another manifest"))
