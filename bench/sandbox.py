"""Sandbox: a backup to its first answered query, against doing the same by hand (issue 17: <= 1.2x).

    python bench/sandbox.py [--rows 1000000] [--major 17] [--rounds 3]

Starts its own PostgreSQL on 127.0.0.1, fills `events` (id, inet, text, jsonb), dumps it and backs the
dump up (.enc, default key derivation). Then, alternating: `recovery-console sandbox ENC --json` until it
is ready and one psql query through the command it prints, against initdb, start, createdb,
`pg_restore -d` of the plain dump and the same query by hand, with the same binaries and the same
throwaway settings (--no-sync, fsync off). Prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import PgServer, PgServerFactory, pg_root, tool_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--major", type=int, default=17)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    factory = PgServerFactory()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-sandbox-"))
    env = {**tool_env(), "RECOVERY_CONSOLE_HOME": str(work / "home")}
    try:
        server = factory.start(args.major)
        server.createdb("bench")
        server.psql(f"""CREATE TABLE events (id bigint, host inet, note text, payload jsonb);
            INSERT INTO events SELECT g, ('10.0.' || (g % 250) || '.' || (g % 200))::inet, 'event ' || g,
                jsonb_build_object('g', g, 's', repeat('x', g % 40)) FROM generate_series(1, {args.rows}) g;""",
                    db="bench")
        bench_sandbox(server, work, env, args.rounds)
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


def bench_sandbox(server: PgServer, work: Path, env: dict[str, str], rounds: int) -> None:
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
    hand: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):  # alternating, so a change in the machine's load hits both alike
        hand.append(_by_hand(server, dump, query))
        ours.append(_sandbox(console, enc, secret, sandbox_env, query))
    a, b = statistics.median(ours), statistics.median(hand)
    print(f"sandbox ({dump.stat().st_size / 2**20:6.1f} MiB dump, .enc {enc.stat().st_size / 2**20:6.1f} MiB): "
          f"to first query {a:6.2f}s vs initdb+start+pg_restore by hand {b:6.2f}s = {a / b:5.2f}x "
          f"(median of {rounds} alternating rounds; target <= 1.2x)", flush=True)


if __name__ == "__main__":
    main()
