"""A database password, in any form a URL can carry it, never reaches a file, a listing or a child's argv.

The server is a real PostgreSQL whose role `rc_secret` must log in with scram-sha-256, so a backup
or a restore that succeeds proves the password did reach libpq. The console runs as a real CLI
subprocess with a real Secret Service (gnome-keyring) as its keyring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
ROLE = "rc_secret"
PASSWORD = "Leak-Hunt-7f3a9c"
URL_FORMS: dict[str, Callable[[int, str], str]] = {
    "userinfo": lambda port, db: f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{db}",
    "query": lambda port, db: f"postgresql://{ROLE}@127.0.0.1:{port}/{db}?password={PASSWORD}&connect_timeout=10",
    "conninfo": lambda port, db: f"host=127.0.0.1 port={port} dbname={db} user={ROLE} password={PASSWORD}",
}


@pytest.fixture(scope="module")
def server(pg_server_factory, request):
    """A private PostgreSQL 15 where `rc_secret` needs its password (scram-sha-256), and a sample database."""
    import psycopg

    from tests.fixtures.postgres import HOST, create_sample_database

    pg = pg_server_factory.new(15)
    request.addfinalizer(pg.remove)
    pg.psql(f"SET password_encryption = 'scram-sha-256'; CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    hba = pg.data_dir / "pg_hba.conf"
    hba.write_text(f"host all {ROLE} {HOST}/32 scram-sha-256\n" + hba.read_text())
    pg.psql("SELECT pg_reload_conf()")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://{ROLE}@{HOST}:{pg.port}/postgres", connect_timeout=5).close()
    database = create_sample_database(pg, "leaks", scale=1)
    return pg, database


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A console home with a local target `vault` and a secret file."""
    home = tmp_path / "home"
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "target").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "target")}))
    (tmp_path / "secret").write_text(SECRET)
    return home


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return {**env, "RECOVERY_CONSOLE_HOME": str(home),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring", **extra}


def cli(home: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recovery_console.cli.main", *argv], env=cli_env(home, **extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def start_cli(home: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", *argv], env=cli_env(home), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def create_profile(home: Path, url: str) -> None:
    secret = str(home.parent / "secret")
    done = cli(home, "profile", "create", "prod", "--database-url-env", "RC_URL", "--target", "vault",
               "--secret-key-file", secret, RC_URL=url)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    done = cli(home, "profile", "set-mode", "prod", "direct", "--not-a-pooler")
    assert done.returncode == 0, done.stderr


def files_holding_password(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


def children(pid: int, name: str) -> list[int]:
    """PIDs of the processes named `name` whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if cmd.endswith(name.encode()) and ppid == pid:
                found.append(int(entry.name))
    return found


def catch_child(proc: subprocess.Popen[str], name: str, timeout: float = 120) -> tuple[bytes, dict[str, str]]:
    """The argv and environment of the first `name` child of `proc` that connects, read while it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in children(proc.pid, name):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                raw = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue  # it ended in between
            if b"--dbname=" in cmdline:  # not the `--version` run of tool discovery
                env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
                return cmdline, env
        time.sleep(0.005)
    raise AssertionError(f"no {name} child was seen; exit {proc.poll()}: {proc.stderr.read() if proc.stderr else ''}")


def assert_password_only_in_child_env(cmdline: bytes, env: dict[str, str]) -> None:
    assert PASSWORD.encode() not in cmdline, cmdline
    assert "PGPASSFILE" not in env  # no file holds it
    assert env.get("PGPASSWORD") == PASSWORD  # handed over in the child's own environment only
    pgpass = [p for p in Path(tempfile.gettempdir()).glob("rc-pgpass-*/pgpass") if PASSWORD in p.read_text()]
    assert pgpass == []


@pytest.mark.parametrize("form", sorted(URL_FORMS))
def test_a_password_in_the_url_reaches_no_file_and_no_listing(form, server, home, secret_service) -> None:
    pg, database = server
    create_profile(home, URL_FORMS[form](pg.port, database))
    outputs = []
    for argv in (("profile", "list"), ("profile", "list", "--json"), ("profile", "show", "prod"),
                 ("profile", "show", "prod", "--json"), ("profile", "test", "prod"),
                 ("profile", "test", "prod", "--json")):
        done = cli(home, *argv)
        assert done.returncode == 0, (argv, done.stderr)
        outputs.append(done.stdout + done.stderr)
    assert "Connection OK" in outputs[4]  # the password was found in the keyring and worked
    assert not [out for out in outputs if PASSWORD in out]
    assert (home / "data" / "server_versions.json").exists()
    assert files_holding_password(home) == []
    json.loads(outputs[1])  # the JSON listing is still JSON


@pytest.mark.parametrize("form", sorted(URL_FORMS))
def test_pg_dump_gets_the_password_in_its_environment_only(form, server, home, secret_service) -> None:
    import psycopg

    pg, database = server
    create_profile(home, URL_FORMS[form](pg.port, database))
    with psycopg.connect(pg.dsn(database)) as blocker:  # pg_dump waits for this lock: time to look at it
        blocker.execute("LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE")
        proc = start_cli(home, "backup", "create", "--profile", "prod", "--secret-key-file",
                         str(home.parent / "secret"), "--json")
        try:
            cmdline, env = catch_child(proc, "pg_dump")
        finally:
            blocker.rollback()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_password_only_in_child_env(cmdline, env)
    assert PASSWORD not in out + err
    assert files_holding_password(home) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_pg_restore_gets_the_password_in_its_environment_only(jobs, server, home, secret_service) -> None:
    pg, database = server
    create_profile(home, URL_FORMS["query"](pg.port, database))
    done = cli(home, "backup", "create", "--profile", "prod", "--secret-key-file", str(home.parent / "secret"),
               "--json")
    assert done.returncode == 0, done.stderr
    backup = json.loads(done.stdout)["short_id"]
    proc = start_cli(home, "restore", "run", backup, "--profile", "prod", "--yes", "--jobs", str(jobs),
                     "--secret-key-file", str(home.parent / "secret"))
    cmdline, env = catch_child(proc, "pg_restore")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_password_only_in_child_env(cmdline, env)
    assert PASSWORD not in out + err
    assert files_holding_password(home) == []


def test_a_password_an_older_release_saved_in_a_url_is_moved_to_the_keyring(server, home, secret_service) -> None:
    pg, database = server
    create_profile(home, f"postgresql://{ROLE}@127.0.0.1:{pg.port}/{database}")
    profiles = home / "config" / "profiles.json"
    saved = json.loads(profiles.read_text())
    saved["profiles"][0]["database_url"] += f"?password={PASSWORD}"  # as releases before this fix saved it
    profiles.write_text(json.dumps(saved))

    listed = cli(home, "profile", "list")
    assert listed.returncode == 0, listed.stderr
    assert PASSWORD not in listed.stdout + listed.stderr
    assert files_holding_password(home) == []
    tested = cli(home, "profile", "test", "prod")
    assert "Connection OK" in tested.stdout, tested.stdout + tested.stderr  # the password now comes from the keyring
