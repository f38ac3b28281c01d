"""A vault's tar through the CLI (#18): `backup upload` makes a folder backup, `contents` lists it like `tar -tv`,
and `decrypt --extract` writes its files into a new folder."""

from __future__ import annotations

import json
import os
import subprocess

from recovery_console.errors import ExitCode
from tests.unit.test_cli import run


def test_a_vault_tar_uploaded_listed_and_extracted(capsys, tmp_path, secret_file):
    vault = tmp_path / "vault"
    (vault / "leeres Verzeichnis").mkdir(parents=True)
    (vault / "Größe.txt").write_text("ü\n", "utf-8")
    os.symlink("Größe.txt", vault / "link")
    tar = tmp_path / "nightly.tar.gz"
    subprocess.run(["tar", "-czf", str(tar), "-C", str(vault), "."], check=True)
    target = tmp_path / "target"
    target.mkdir()
    key = ["--secret-key-file", str(secret_file)]

    code, out, _ = run(capsys, "backup", "upload", str(tar), "--target", str(target), *key)
    assert code == ExitCode.OK, out
    assert "Encrypted into a new backup" in out and "as a folder backup" in out and "1 files, 2 folders, 1 links" in out
    code, out, _ = run(capsys, "backup", "list", "--target", str(target), "--json")
    short_id = json.loads(out)["backups"][0]["short_id"]

    code, out, _ = run(capsys, "contents", short_id, *key)
    assert code == ExitCode.OK and "4 members" in out
    assert "./Größe.txt" in out and "./link -> Größe.txt" in out and out.count("drwx") == 2
    code, out, _ = run(capsys, "backup", "verify", short_id, *key)
    assert code == ExitCode.OK and "holds a folder's tar" in out

    restored = tmp_path / "restored"
    code, out, _ = run(capsys, "decrypt", short_id, "--extract", str(restored), *key)
    assert code == ExitCode.OK and "1 files, 2 folders, 1 links" in out
    assert (restored / "Größe.txt").read_text("utf-8") == "ü\n" and (restored / "leeres Verzeichnis").is_dir()
    assert os.readlink(restored / "link") == "Größe.txt"
    code, _, err = run(capsys, "decrypt", short_id, "--extract", str(restored), *key)
    assert code == ExitCode.USAGE and "already exists" in err



def test_a_plain_sql_file_is_refused_with_what_to_do(capsys, tmp_path, secret_file):
    sql = tmp_path / "db.sql"
    sql.write_text("--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n", "utf-8")
    target = tmp_path / "target"
    target.mkdir()
    code, _, err = run(capsys, "backup", "upload", str(sql), "--target", str(target),
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.UNSUPPORTED and "plain-SQL dump" in err and "psql" in err
    assert [p for p in target.rglob("*") if p.is_file()] == []
    assert sql.read_text("utf-8").startswith("--\n-- PostgreSQL")


def test_a_sparse_file_in_a_nightly_tar_is_listed_as_a_file_and_extracted_with_its_holes(capsys, tmp_path,
                                                                                        secret_file):
    vault = tmp_path / "vault"
    vault.mkdir()
    with open(vault / "disk.img", "wb") as f:
        f.truncate(32 << 20)
        f.seek(20 << 20)
        f.write(b"the middle")
    os.chmod(vault / "disk.img", 0o644)
    tar = tmp_path / "nightly.tar.gz"
    subprocess.run(["tar", "-czSf", str(tar), "-C", str(vault), "."], check=True)  # GNU's sparse header
    target = tmp_path / "target"
    target.mkdir()
    key = ["--secret-key-file", str(secret_file)]
    code, out, _ = run(capsys, "backup", "upload", str(tar), "--target", str(target), *key)
    assert code == ExitCode.OK, out
    code, out, _ = run(capsys, "backup", "list", "--target", str(target), "--json")
    short_id = json.loads(out)["backups"][0]["short_id"]
    code, out, _ = run(capsys, "contents", short_id, *key)
    assert code == ExitCode.OK and "-rw-r--r--     33554432" in out and "?rw" not in out
    code, out, _ = run(capsys, "contents", short_id, "--json", *key)
    assert {m["name"]: m["type"] for m in json.loads(out)["members"]}["./disk.img"] == "file"
    restored = tmp_path / "restored"
    code, out, _ = run(capsys, "decrypt", short_id, "--extract", str(restored), *key)
    assert code == ExitCode.OK, out
    assert (restored / "disk.img").read_bytes() == (vault / "disk.img").read_bytes()
    assert (restored / "disk.img").stat().st_blocks * 512 < 1 << 20
