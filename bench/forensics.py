"""Export and search of one table from an archive, against pg_restore doing the same work.

    python bench/forensics.py [--rows 2000000] [--major 17] [--compressions none,gzip,zstd,lz4]

Starts its own PostgreSQL on 127.0.0.1, fills `events` (id, inet, text, jsonb: every row needs CSV
quoting) with one planted IOC, dumps it with each compression, and prints per archive the wall
time of `recovery-console export --table events` (CSV, to a file) against `pg_restore --data-only
--table events -f -` (which only copies COPY text), and of `recovery-console search` for the IOC
against `pg_restore --data-only -f - | grep -c`. Both console commands run as fresh processes.
Targets (issue 17): export ≤ 2.0×, search ≤ 1.0×.

Sandbox (`bench_sandbox`; `--sandbox-only` runs it alone): from a backup (.enc, default key derivation) of the
same database to the first answered query — `recovery-console sandbox ENC --json` until ready, then one psql
query — against the same by hand on the plain dump: initdb, start, createdb, `pg_restore -d`, the query, with
the same binaries and the same throwaway settings (--no-sync, fsync off). Target: ≤ 1.2×.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import PgServer, PgServerFactory, pg_root, tool_env  # noqa: E402

IOC = "203.0.113.77"


def timed(command: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--compressions", default="none,gzip,zstd,lz4")
    parser.add_argument("--sandbox-only", action="store_true", help="only the sandbox measurement")
    args = parser.parse_args()
    factory = PgServerFactory()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-forensics-"))
    env = {**tool_env(), "RECOVERY_CONSOLE_HOME": str(work / "home")}
    console = f"{sys.executable} -m recovery_console.cli.main --quiet"
    try:
        server = factory.start(args.major)
        server.createdb("bench")
        server.psql(f"""CREATE TABLE events (id bigint, host inet, note text, payload jsonb);
            INSERT INTO events SELECT g, ('10.0.' || (g % 250) || '.' || (g % 200))::inet,
                CASE WHEN g = {args.rows // 3} THEN 'login from {IOC}' ELSE 'event ' || g || ' ' || md5(g::text) END,
                jsonb_build_object('g', g, 's', repeat('x', g % 40)) FROM generate_series(1, {args.rows}) g;""",
                    db="bench")
        for compression in [] if args.sandbox_only else args.compressions.split(","):
            dump = work / f"events-{compression}.dump"
            level = "0" if compression == "none" else compression
            server.run("pg_dump", "-Fc", f"--compress={level}", "-f", str(dump), *server.conn_args("bench"))
            restore = f"{server.tool('pg_restore')} --data-only"
            plain_export = timed(f"{restore} --table events -f - {dump}", env)
            ours_export = timed(f"{console} export {dump} --table events -o {work / 'out.csv'} --force", env)
            plain_search = timed(f"{restore} -f - {dump} | grep -c {IOC}", env)
            ours_search = timed(f"{console} search {dump} {IOC}", env)
            print(f"{compression:>5} ({dump.stat().st_size / 2**20:6.1f} MiB): "
                  f"export {ours_export:6.2f}s vs pg_restore {plain_export:5.2f}s = "
                  f"{ours_export / plain_export:5.2f}x; "
                  f"search {ours_search:6.2f}s vs pg_restore|grep {plain_search:5.2f}s = "
                  f"{ours_search / plain_search:5.2f}x", flush=True)
            os.remove(dump)
        bench_sandbox(server, work, env)
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


def _as_server_user() -> dict[str, object]:
    """PostgreSQL refuses root: as root, run the by-hand server as `postgres` (as the console does)."""
    return {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}


def _by_hand(server: PgServer, dump: Path, query: str) -> float:
    """initdb + start + createdb + pg_restore of the plain dump + the query, as a person would type them."""
    folder = Path(tempfile.mkdtemp(prefix="rc-bench-by-hand-"))  # the server's user cannot enter the work folder
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    as_user = _as_server_user()
    tool = server.tool
    conn = ["-h", str(folder), "-U", "postgres"]
    start = time.perf_counter()
    subprocess.run([str(tool("initdb")), "-D", str(folder / "data"), "-U", "postgres", "--auth=trust", "--no-sync",
                    "-E", "UTF8", "--locale=C"], check=True, stdout=subprocess.DEVNULL, env=tool_env(), **as_user)
    subprocess.run([str(tool("pg_ctl")), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-o",
                    f"-c listen_addresses= -k {folder} -c fsync=off -c full_page_writes=off", "start"],
                   check=True, stdout=subprocess.DEVNULL, env=tool_env(), **as_user)
    try:
        subprocess.run([str(tool("createdb")), *conn, "bench"], check=True, env=tool_env())
        subprocess.run([str(tool("pg_restore")), *conn, "-d", "bench", "--no-owner", str(dump)], check=True,
                       env=tool_env())
        subprocess.run([str(tool("psql")), *conn, "-d", "bench", "-X", "-A", "-t", "-c", query], check=True,
                       stdout=subprocess.DEVNULL, env=tool_env())
        return time.perf_counter() - start
    finally:
        subprocess.run([str(tool("pg_ctl")), "-D", str(folder / "data"), "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, env=tool_env(), **as_user)
        shutil.rmtree(folder, ignore_errors=True)


def _sandbox(console: list[str], enc: Path, secret: Path, env: dict[str, str], query: str) -> float:
    """`recovery-console sandbox ENC --json` until it is ready, then the query through its psql command."""
    start = time.perf_counter()
    proc = subprocess.Popen([*console, "sandbox", str(enc), "--secret-key-file", str(secret), "--json"],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    text = ""
    while not text.endswith("}\n"):
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"sandbox ended before it was ready ({proc.wait()})")
        text += line
    psql = json.loads(text)["psql"]
    subprocess.run([psql[0], "-X", "-A", "-t", "-c", query, psql[1]], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    proc.send_signal(signal.SIGINT)
    proc.wait(120)
    return elapsed


def bench_sandbox(server: PgServer, work: Path, env: dict[str, str]) -> None:
    """Sandbox from .enc to the first answered query vs initdb + start + pg_restore by hand (issue 17: ≤ 1.2×)."""
    from recovery_console.engine.console import Console
    from recovery_console.engine.state.paths import AppPaths
    from recovery_console.models.target import TargetConfig

    dump = work / "sandbox.dump"
    server.run("pg_dump", "-Fc", "-f", str(dump), *server.conn_args("bench"))
    secret = work / "secret"
    secret.write_text("bench sandbox secret")
    home = Path(env["RECOVERY_CONSOLE_HOME"])
    maker = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (work / "target").mkdir(exist_ok=True)
    maker.add_target(TargetConfig(name="bench", kind="local", options={"path": str(work / "target")}))
    with open(dump, "rb") as stream:
        record = maker.create_backup(stream, "bench", secret.read_text(), source_name="bench")
    maker.close()
    enc = work / "target" / record.key
    query = "SELECT count(*) FROM events"
    sandbox_env = {**env, "RECOVERY_CONSOLE_PG_DIRS": str(pg_root() / str(server.major))}
    if not (pg_root() / str(server.major)).is_dir():
        sandbox_env["RECOVERY_CONSOLE_PG_DIRS"] = str(server.bin_dir)
    console = [sys.executable, "-m", "recovery_console.cli.main", "--quiet"]
    hand = [_by_hand(server, dump, query) for _ in range(2)]
    ours = [_sandbox(console, enc, secret, sandbox_env, query) for _ in range(2)]
    print(f"sandbox ({dump.stat().st_size / 2**20:6.1f} MiB dump, .enc {enc.stat().st_size / 2**20:6.1f} MiB): "
          f"to first query {min(ours):6.2f}s vs initdb+start+pg_restore by hand {min(hand):6.2f}s = "
          f"{min(ours) / min(hand):5.2f}x (best of 2 each)", flush=True)


if __name__ == "__main__":
    main()
