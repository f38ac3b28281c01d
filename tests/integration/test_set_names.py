"""A recovery set's name repeats (#18): `backup upload --as-set NAME` run each night with one name makes a set each
time, and a restore by that name takes the newest complete one and says which; refused, never guessed, when a newer
set's name is unknown here or every set of the name is damaged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_import import import_set
from recovery_console.engine.sets.set_listing import list_sets, verify_set
from recovery_console.engine.sets.set_names import find_named_set
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import ExitCode, UsageError
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def vault_tar(tmp_path: Path) -> Path:
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "a.txt").write_text("attachment ✓\n", "utf-8")
    made = tmp_path / "vault.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(folder), "."], check=True)
    return made


def _upload(console: Console, vault_tar: Path, name: str, profile: str | None = None):
    return import_set(console, [vault_tar], name, "vault", SECRET, profile=profile, iterations=FAST_ITERATIONS)


def test_a_name_uploaded_twice_makes_two_sets_and_a_restore_by_name_takes_the_newest(
        console, local_target, vault_tar, tmp_path, monkeypatch, capsys, secret_file):
    console.profiles.create("prod", "postgresql://backup@db.internal:5432/config", target=local_target)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    secret = ["--secret-key-file", str(secret_file)]
    upload = ["backup", "upload", "--as-set", "nightly", str(vault_tar), "--profile", "prod", *secret]
    assert main(upload) == ExitCode.OK
    first_out = capsys.readouterr().out
    assert "are named 'nightly'" not in first_out
    assert main(upload) == ExitCode.OK  # not refused: one cron job's files, imported each night under one name
    assert "2 sets on vault are named 'nightly'; restoring by that name takes the newest, this one." in \
        capsys.readouterr().out
    weekly = _upload(console, vault_tar, "weekly", "prod")
    # Both uploads usually start within one second; the finish (to the millisecond) then says which is newer.
    older, newer = sorted((s for s in list_sets(console)[0] if s.manifest.description == "nightly"),
                          key=lambda s: (s.manifest.created_at, s.manifest.finished_at))
    assert main(["backup", "list"]) == ExitCode.OK
    assert capsys.readouterr().out.count("Name      nightly") == 2

    common = ["--profile", "prod", "--new-folder", str(tmp_path / "back"), *secret]  # imported: its folder unknown
    assert main(["restore", "preflight", "nightly", *common]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert f"'nightly' names 2 recovery sets; the newest complete one is used: set {newer.short_id} (created " \
           f"{newer.created}) on vault. The others: {older.short_id}." in err
    assert "folder vault" in out
    assert main(["restore", "preflight", "weekly", *common]) == ExitCode.OK
    assert f"'weekly' is set {weekly.short_id}" in capsys.readouterr().err
    assert main(["restore", "preflight", older.short_id, *common]) == ExitCode.OK  # an id is never a name
    assert "names" not in capsys.readouterr().err
    # decrypt, contents and backup verify take a set's name as restore does (they said "No backup with id")
    assert main(["decrypt", "nightly", "--member", "vault", "-o", str(tmp_path / "out"), *secret]) == ExitCode.OK
    assert (tmp_path / "out" / "a.txt").read_text("utf-8") == "attachment ✓\n"
    assert f"the newest complete one is used: set {newer.short_id}" in capsys.readouterr().err
    assert main(["contents", "nightly", *secret]) == ExitCode.OK
    assert newer.set_id in capsys.readouterr().out
    assert main(["backup", "verify", "weekly", *secret]) == ExitCode.OK
    assert f"set {weekly.set_id} is whole" in capsys.readouterr().out
    assert find_named_set(console, "no such name") is None

    (tmp_path / "target" / newer.folder / "01-folder.enc").unlink()  # the newest damaged: the older one is used
    list_sets(console)
    picked = find_named_set(console, " nightly ")
    assert picked is not None and picked.record.folder == older.folder
    assert f"The others: {newer.short_id} (damaged)." in picked.note()
    (tmp_path / "target" / older.folder / "01-folder.enc").unlink()
    list_sets(console)
    with pytest.raises(UsageError, match="Every recovery set named 'nightly' is damaged"):
        find_named_set(console, "nightly")


def test_a_newer_set_whose_name_is_unknown_here_is_not_guessed_past(console, local_target, vault_tar, tmp_path):
    mine = _upload(console, vault_tar, "nightly")
    other = Console(AppPaths(config_dir=tmp_path / "other" / "config", data_dir=tmp_path / "other" / "data"))
    other.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "target")}))
    theirs = _upload(other, vault_tar, "nightly")  # made by another console: its name is unknown here
    list_sets(console)
    with pytest.raises(UsageError, match=f"'nightly' names set {mine.short_id} .* 1 newer set \\({theirs.short_id} "
                                         "on vault\\) cannot be named without the key") as refused:
        find_named_set(console, "nightly")
    assert "Verify the newer sets" in refused.value.hint
    [unnamed] = [s for s in list_sets(console)[0] if s.folder == theirs.folder]
    verify_set(console, unnamed, SECRET)  # the key read its manifest: its name is known now
    picked = find_named_set(console, "nightly")
    assert picked is not None and picked.record.folder == theirs.folder and picked.others[0].folder == mine.folder
