"""`contents` and `decrypt --member` on a recovery set downloaded into a folder (#18, offline): real PostgreSQL 15, a
real local target; the folder is read with the secret alone, each member checked against the sealed manifest."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_download import download_set
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import ExitCode
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def app(tmp_path, pg15, monkeypatch) -> Iterator[Console]:
    """The CLI's console, with a set of profile 'records' (a PG15 database and a folder) on the local target."""
    home = tmp_path / "home"
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(home))
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "vault").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "vault")}))
    db = f"offline_{uuid.uuid4().hex[:8]}"
    pg15.createdb(db)
    pg15.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g "
              "FROM generate_series(1, 500) g", db=db)
    files = tmp_path / "files"
    (files / "naïve café").mkdir(parents=True)
    (files / "naïve café" / "résumé ✓.txt").write_text("ünïcode\n", "utf-8")
    (files / "up").symlink_to("../../etc")
    console.profiles.create("records", pg15.dsn(db), target="vault")
    console.profiles.set_mode("records", ConnectionMode.DIRECT, acknowledge_direct=True)
    ProfileMembers(console.profiles).add_folder("records", "files", str(files))
    with console:
        yield console


@pytest.fixture
def folder(app, tmp_path) -> Path:
    record = backup_set(app, "records", secret=SECRET, iterations=FAST_ITERATIONS)
    return download_set(app, record, tmp_path / "usb").folder


def test_the_cli_lists_and_takes_out_each_member_of_a_downloaded_set(app, folder, tmp_path, secret_file, capsys):
    key = ["--secret-key-file", str(secret_file)]
    assert main(["contents", str(folder), *key, "--json"]) == ExitCode.OK
    listed = json.loads(capsys.readouterr().out)
    by_name = {m["name"]: m for m in listed["members"]}
    assert sorted(by_name) == ["files", "main"] and not any(m["problem"] for m in listed["members"])
    assert "not one transaction-consistent" in listed["consistency_note"]

    assert main(["contents", str(folder), "--member", "main", *key]) == ExitCode.OK
    assert "TABLE DATA public t" in capsys.readouterr().out

    dump = tmp_path / "records.dump"
    assert main(["decrypt", str(folder), "--member", "main", "-o", str(dump), *key]) == ExitCode.OK
    assert hashlib.sha256(dump.read_bytes()).hexdigest() == by_name["main"]["archive_sha256"]
    capsys.readouterr()

    into = tmp_path / "files back"
    assert main(["decrypt", str(folder), "--member", "files", "-o", str(into), *key]) == ExitCode.OK
    out = capsys.readouterr().out
    assert (into / "naïve café" / "résumé ✓.txt").read_text("utf-8") == "ünïcode\n"
    assert "REFUSED   up" in out and not os.path.lexists(into / "up")

    assert main(["decrypt", str(folder), *key]) == ExitCode.USAGE
    assert "Its members: main (database), files (folder)." in capsys.readouterr().err


def test_a_damaged_member_is_named_and_the_other_still_comes_out(app, folder, tmp_path, secret_file, capsys):
    key = ["--secret-key-file", str(secret_file)]
    assert main(["contents", str(folder), *key, "--json"]) == ExitCode.OK
    files = {m["name"]: folder / m["key"] for m in json.loads(capsys.readouterr().out)["members"]}
    with open(files["main"], "ab") as f:
        f.write(b"x")
    assert main(["contents", str(folder), *key]) == ExitCode.VERIFY_FAILED
    assert f"DAMAGED   main: its file {files['main'].name} is " in capsys.readouterr().out
    assert main(["decrypt", str(folder), "--member", "main", "-o", str(tmp_path / "r.dump"), *key]) != ExitCode.OK
    err = capsys.readouterr().err
    assert "Member 'main' of this set cannot be used" in err and "another copy of the set" in err
    assert not (tmp_path / "r.dump").exists()
    assert main(["decrypt", str(folder), "--member", "files", "-o", str(tmp_path / "f"), *key]) == ExitCode.OK
    assert (tmp_path / "f" / "naïve café" / "résumé ✓.txt").is_file()
