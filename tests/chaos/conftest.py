"""The chaos suite's world: a real PostgreSQL with a password-protected role and a pgbench-like database
with ~24 MB of incompressible rows, a seed backup of it, a tmpfs, an S3 bucket and an SFTP folder per test,
and a console home per test that a `python -m recovery_console.cli.main` subprocess uses.

Per test (`scene`): RECOVERY_CONSOLE_HOME, TMPDIR, XDG_RUNTIME_DIR and HOME are folders of the test's own;
targets `disk` (a folder on the tmpfs), `s3` (a fresh bucket on rclone) and `sftp` (a fresh folder behind
sshd) hold their secrets in the fixture's gnome-keyring; profile `prod` (direct mode, target `disk`)
reaches the database as role `chaos`, whose password went from the URL to that keyring.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.chaos.harness import Child, descendants
from tests.fixtures.console import FAST_ITERATIONS
from tests.fixtures.keyring import SecretServiceInfo, running_secret_service
from tests.fixtures.sftp import GROUP

ROLE = "chaos"
DATABASE = "chaos_src"
BLOB_ROWS = 384  # × 64 KiB of random bytes: ~24 MiB in the table, ~48 MiB of hex in the archive
SEED_TARGET = "seed"
BLOBS = "app.blobs"
_TABLES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1
"""


@dataclass
class World:
    """What every chaos test shares; the tests put it back as it was."""

    pg: Any
    password: str
    secret: str
    archive: Path
    archive_sha256: str
    seed_dir: Path
    seed_key: str
    tmpfs: Path
    before: dict[str, tuple[int, str]]

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.pg.port}/{DATABASE}"

    def fingerprints(self, database: str = DATABASE) -> dict[str, tuple[int, str]]:
        """{"schema.table": (row count, md5 over its rows)} for every user table and the large objects, as
        tests/fixtures/postgres.py's table_fingerprints, but hashing app.blobs' bytea without turning it into
        text first (that alone took seconds)."""
        tables = [t for t in self.pg.psql(_TABLES, db=database).splitlines() if t != BLOBS]
        parts = [f"SELECT '{t}', count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
                 f"FROM {t} r" for t in tables]
        parts.append(f"SELECT '{BLOBS}', count(*), md5(coalesce(string_agg(id || ':' || md5(payload), ',' "
                     f"ORDER BY id), '')) FROM {BLOBS}")
        parts.append("SELECT 'pg_catalog.pg_largeobject', count(*), md5(coalesce(string_agg(oid::text || ':' || "
                     "md5(lo_get(oid)), ',' ORDER BY oid), '')) FROM pg_largeobject_metadata")
        result = {}
        for line in self.pg.psql(" UNION ALL ".join(parts), db=database).splitlines():
            name, count, digest = line.rsplit("|", 2)
            result[name] = (int(count), digest)
        return result


def _require_password(pg: Any, password: str) -> None:
    """Role `chaos` (superuser) must log in with its password over TCP; `postgres` stays trusted for the fixtures."""
    pg.psql(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{password}'")
    hba = pg.data_dir / "pg_hba.conf"
    text = subprocess.run(["cat", str(hba)], capture_output=True, text=True, check=True).stdout
    rule = f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n"
    subprocess.run(["runuser", "-u", "postgres", "--", "tee", str(hba)], input=rule + text, text=True,
                   capture_output=True, check=True)
    pg.psql("SELECT pg_reload_conf()")


def _fill(pg: Any) -> None:
    from tests.fixtures.postgres import create_sample_database

    create_sample_database(pg, DATABASE, scale=1)
    pg.psql(f"CREATE TABLE {BLOBS} (id integer PRIMARY KEY, payload bytea NOT NULL);"
            f"INSERT INTO {BLOBS} SELECT i, (SELECT decode(string_agg(md5(random()::text || i || g), ''), 'hex') "
            f"FROM generate_series(1, 4096) AS g) FROM generate_series(1, {BLOB_ROWS}) AS i;"
            f"ALTER DATABASE {DATABASE} OWNER TO {ROLE}", db=DATABASE)


@pytest.fixture(scope="session")
def chaos_world(pg_server_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("chaos-world")
    pg = pg_server_factory.new(15)
    tmpfs = root / "tmpfs"
    tmpfs.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=768m,mode=0755", "tmpfs", str(tmpfs)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the local target: {mounted.stderr.strip()}", pytrace=False)
    try:
        password = "chaos-db-pw-" + secrets.token_hex(8)
        _require_password(pg, password)
        _fill(pg)
        sources = root / "sources"  # the source fixtures: the only plaintext archives allowed on disk
        sources.mkdir()
        archive = sources / "chaos_src.dump"
        pg.run("pg_dump", "-Fc", "-Z0", "-f", str(archive), *pg.conn_args(DATABASE))
        # The live database now differs from every backup of it: a restore that replaced it shows.
        pg.psql("INSERT INTO app.empty_log (message) VALUES ('live data, not in any backup')", db=DATABASE)
        secret = "chaos-instance-secret-" + secrets.token_hex(8)
        seed_dir = root / "seed-target"
        seed_dir.mkdir()
        with Console(AppPaths(config_dir=root / "seed-home" / "config", data_dir=root / "seed-home" / "data")) as app:
            app.add_target(TargetConfig(name=SEED_TARGET, kind="local", options={"path": str(seed_dir)}))
            with open(archive, "rb") as source:
                record = app.create_backup(source, SEED_TARGET, secret, iterations=FAST_ITERATIONS,  # as a live
                                           source_name=archive.name, source_size=archive.stat().st_size,  # backup
                                           database=DATABASE)  # of chaos_src: an in-place restore needs no override
            app.verify(app.locate(record.backup_id, SEED_TARGET), secret)
        world = World(pg=pg, password=password, secret=secret, archive=archive,
                      archive_sha256=hashlib.sha256(archive.read_bytes()).hexdigest(), seed_dir=seed_dir,
                      seed_key=record.key, tmpfs=tmpfs, before={})
        world.before = world.fingerprints()
        yield world
    finally:
        subprocess.run(["umount", "-l", str(tmpfs)], capture_output=True)
        pg.remove()


@pytest.fixture(scope="package")
def secret_service_daemon() -> Iterator[SecretServiceInfo]:
    """A keyring daemon of the suite's own, started fresh (the session's shared one is worn by every keyring and
    GUI test before; `secret_service` uses this one for the tests in this folder)."""
    with running_secret_service() as info:
        yield info


@dataclass
class Scene:
    """One test's console: its folders, environment, targets and an in-process Console on the same home."""

    world: World
    root: Path
    env: dict[str, str]
    app: Console
    target_dirs: dict[str, Path]
    s3: Any
    bucket: str
    sftp_owner: tuple[str, str]
    sftp_password: str
    runs: int = 0
    children: list[Child] = field(default_factory=list)
    databases_before: set[str] = field(default_factory=set)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def scanned(self) -> list[Path]:
        """Where no plaintext or secret may stay: temp, home, runtime folder, outputs and every target."""
        folders = [self.root / name for name in ("tmp", "home", "run", "userhome", "out")]
        return folders + list(self.target_dirs.values())

    @property
    def needles(self) -> dict[str, str]:
        return {"instance secret": self.world.secret, "database password": self.world.password,
                "S3 secret key": self.s3.secret_key, "SFTP password": self.sftp_password}

    def start(self, *argv: str) -> Child:
        self.runs += 1
        child = Child(list(argv), self.env, self.logs, f"{self.runs:02d}-{argv[0]}")
        self.children.append(child)
        return child

    def clean_up(self) -> None:
        """After a test that stopped half-way: no console it started keeps running, no database it made stays."""
        for child in self.children:
            if child.proc.poll() is None:
                for pid in [child.pid, *descendants(child.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                child.proc.wait(timeout=30)
        if self.databases_before:
            for db in set(self.world.pg.databases()) - self.databases_before:
                if "__pre_restore_" not in db:  # a kept original is never dropped blindly
                    self.world.pg.dropdb(db)

    def run(self, *argv: str, timeout: float = 120) -> tuple[int, str, str]:
        child = self.start(*argv)
        code = child.finish(timeout)
        return code, child.stdout(), child.stderr()

    def seed(self, target: str) -> str:
        """Put the seed backup (and its sidecar) on `target`, sync the catalog; returns the backup's short id."""
        key = self.world.seed_key
        for name in (key, key + ".sha256"):
            source = self.world.seed_dir / name
            if target == "s3":
                self.s3.client().upload_file(str(source), self.bucket, name)
            else:
                dest = self.target_dirs[target] / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
                if target == "sftp":
                    shutil.chown(dest.parent, *self.sftp_owner)
                    shutil.chown(dest, *self.sftp_owner)
        self.app.sync(target)
        records = [r for r in self.app.catalog.records([target]) if r.key == key]
        assert records, f"the seed backup did not reach the catalog of {target}"
        # These bytes passed a full verify when the world was made: a restore's pre-flight need not repeat it
        # (the pre-flight kill point asks for --verify-first).
        self.app.catalog.remember_verify(records[0], "ok", "full")
        return records[0].short_id

    def listed(self, problems: list[str]) -> list[dict[str, Any]]:
        """`backup list --json` (synced from the targets); a failure is added to `problems`."""
        code, out, err = self.run("backup", "list", "--json")
        if code != 0:
            problems.append(f"`backup list --json` exited {code} at the next start: {err[-800:]}")
            return []
        return list(json.loads(out)["backups"])


@pytest.fixture
def scene(chaos_world: World, secret_service: Any, rclone_s3: Any, sftp_server: Any, sftp_users: Any,
          sftp_dir: Path, tmp_path: Path) -> Iterator[Scene]:
    for name in ("home", "tmp", "run", "userhome", "out", "logs"):
        (tmp_path / name).mkdir(mode=0o700)
    local = chaos_world.tmpfs / uuid.uuid4().hex[:12]
    local.mkdir()
    bucket = rclone_s3.make_bucket()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(RECOVERY_CONSOLE_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"), HOME=str(tmp_path / "userhome"),
               DBUS_SESSION_BUS_ADDRESS=secret_service.address,
               PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring",
               CHAOS_SECRET=chaos_world.secret, PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               LANG="C.UTF-8", COLUMNS="200")
    app = Console(AppPaths(config_dir=tmp_path / "home" / "config", data_dir=tmp_path / "home" / "data"))
    user = sftp_users.password_user
    app.add_target(TargetConfig(name="disk", kind="local", options={"path": str(local)}))
    app.add_target(TargetConfig(name="s3", kind="s3", options=rclone_s3.target_options(bucket)),
                   secrets={"secret_access_key": rclone_s3.secret_key})
    app.add_target(TargetConfig(name="sftp", kind="sftp", options=sftp_server.options(user, sftp_dir)),
                   secrets=user.secrets("password"))
    app.profiles.create("prod", chaos_world.url, target="disk")
    app.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    scene = Scene(world=chaos_world, root=tmp_path, env=env, app=app,
                  target_dirs={"disk": local, "s3": rclone_s3.data_dir / bucket, "sftp": sftp_dir},
                  s3=rclone_s3, bucket=bucket, sftp_owner=(user.name, GROUP), sftp_password=user.password)
    try:
        yield scene
    finally:
        scene.clean_up()
        app.close()
        shutil.rmtree(local, ignore_errors=True)
        with contextlib.suppress(Exception):
            shutil.rmtree(rclone_s3.data_dir / bucket, ignore_errors=True)
