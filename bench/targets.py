"""Benchmark: full verify of a backup straight from each remote target vs a plain download of it.

    python bench/targets.py [--size-gib 2] [--repeat 3] [--only s3,sftp,smb] [--dir DIR] [--py-spy]

For each remote target, on 127.0.0.1, started with the test fixtures' own server classes
(tests/fixtures/{s3,sftp,smb}.py):

  S3    `rclone serve s3` (RcloneS3, SigV4 auth)
  SFTP  OpenSSH `sshd -D` (SshServer; the fixtures' key user rcsftp-key, Ed25519 key)
  SMB3  Samba `smbd --foreground` (SmbServer: SMB3 only, `server smb encrypt = required`)

it builds ONE backup with `encrypt_stream(compression "none", iterations=1000)` of a plaintext that
starts with tests/data/sample-pg18-none.dump (so the TOC parses) followed by filler (a 64 MiB block
of os.urandom, repeated, each copy stamped with its index), uploads it to every target with the
target's own `Storage.put` (`open_upload`, temp name + rename / multipart) plus its `.sha256`
sidecar, and syncs a console home's catalog from each target.

Then it times, each run in a FRESH child process (peak RSS = ru_maxrss of that child from wait4):

  ours      a FULL verify as issue #2 defines it, straight from the target: the real console
            path -- targets.json, secrets from the keyring, catalog -- to `console.locate(id, target)`,
            then `read_stream(ref.open(), secret, full=True, hash_ciphertext=False)` (decrypt every
            chunk in order, the sentinel, archive SHA-256 + length vs the sealed sentinel, TOC parse).
            This is the checked row, as in bench/verify.py.
  console   (information) `Console.verify(ref, secret)`, which does all of the above and also
            hashes the ciphertext to compare it with the .sha256 sidecar fetched from the target: a
            second SHA-256 pass over as many bytes, for the keyless audit trail.
            The keyring is keyrings.alt's PlaintextKeyring in the temp home
            (RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING=1, PYTHON_KEYRING_BACKEND, XDG_DATA_HOME): the
            console's SecretStore is used unchanged.
  baseline  a plain download of the same object to a null sink with the backend's own client, the
            library issue #4 builds each backend on (the checked ratios):
            S3   boto3 get_object + Body.read(1 MiB) loop; boto3 download_fileobj (10 threads of
                 ranged GETs)
            SFTP paramiko SFTPClient.getfo
            SMB  smbprotocol smbclient.open_file + readinto(1 MiB) loop
  native    (information) the same download with a native C/Go client, printed with its ratio:
            S3 `rclone cat` (Go S3 client); SFTP OpenSSH `sftp -b` and `scp` (same key user);
            SMB Samba `smbclient -m SMB3 --client-protection=encrypt -c 'get ... /dev/null'`.
            Our verify cannot outrun the transport of the library it reads through; where that
            (paramiko's SSH, smbprotocol's SMB3) is slower than the native client, these ratios
            measure the library more than the verify.

Times: for Python children, the child times its own work from before it opens the connection to the
last byte (ours: from `Console(...)` through the verify returning, so connect, keyring, catalog and KDF
are all inside, and for the console row the sidecar GET); interpreter start-up and imports are outside. For the
CLI clients
(sftp, scp, smbclient, rclone cat) it is the process's wall time (connect included; start-up of a C/Go
binary is a few ms). The whole-process wall time of every run is shown as well.

Each measurement runs --repeat times (interleaved: every baseline then ours, per round); the best
time is reported, and the largest peak RSS. The object is read once on the server side first so
every run reads the server's page cache. Targets: ratio ours/baseline <= 1.2; peak RSS of the
verify <= 150 MB (10^6 bytes). Everything started or written is stopped / removed at the end.
Needs root (useradd, sshd, smbd), as the fixtures do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "sample-pg18-none.dump"
SECRET = "bench-instance-secret"
ITERATIONS = 1000
FILLER = 64 << 20
BLOCK = 1 << 20
MB = 1_000_000
RSS_LIMIT_MB = 150
RATIO_LIMIT = 1.2
CHILD_TIMEOUT = 1800

KEYRING_ENV = {
    "RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING": "1",
    "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
}


def _loadavg() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f} (1/5/15 min)"


class NullSink:
    """A writable that throws everything away (the download baselines' /dev/null)."""

    def write(self, data: Any) -> int:
        return len(data)

    def flush(self) -> None:
        pass


# ================================================================ child side


def _vmhwm_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return 0.0


def _child_ours(spec: dict) -> dict:
    from recovery_console.engine.console import Console
    from recovery_console.engine.state.paths import AppPaths

    start = time.perf_counter()
    console = Console(AppPaths.default())
    t_console = time.perf_counter()
    ref = console.locate(spec["backup_id"], spec["target"])
    t_locate = time.perf_counter()
    result = console.verify(ref, SECRET)
    seconds = time.perf_counter() - start
    assert result.mode == "full"
    assert result.archive_length is not None and result.archive_sha256 is not None
    assert result.sidecar_sha256 == result.ciphertext_sha256, "sidecar not compared"
    assert result.archive_version, "TOC not parsed"
    return {"seconds": seconds, "bytes": result.encrypted_size,
            "info": f"{result.chunk_count} chunks, archive {result.archive_length} B, TOC {result.archive_version}; "
                    f"Console() {t_console - start:.2f} s + locate {t_locate - t_console:.2f} s + verify "
                    f"{start + seconds - t_locate:.2f} s"}


def _child_issue_verify(spec: dict) -> dict:
    from recovery_console.engine.console import Console
    from recovery_console.engine.container.verify import read_stream
    from recovery_console.engine.state.paths import AppPaths

    start = time.perf_counter()
    console = Console(AppPaths.default())
    ref = console.locate(spec["backup_id"], spec["target"])
    with ref.open() as stream:
        report = read_stream(stream, SECRET, full=True, hash_ciphertext=False, total=ref.size)
    seconds = time.perf_counter() - start
    assert report.full and report.archive_sha256 is not None and report.archive is not None
    return {"seconds": seconds, "bytes": report.encrypted_size,
            "info": f"{report.chunk_count} chunks, archive {report.archive_length} B, "
                    f"TOC {report.archive.header.version}"}


def _child_s3_get(spec: dict) -> dict:
    import boto3
    from botocore.config import Config

    start = time.perf_counter()
    client = boto3.client(
        "s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
        aws_access_key_id=spec["access_key"], aws_secret_access_key=spec["secret_key"],
        # as the console's client: no whole-object checksum validation (rclone serves none anyway)
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
    body = client.get_object(Bucket=spec["bucket"], Key=spec["key"])["Body"]
    total = 0
    while data := body.read(BLOCK):
        total += len(data)
    body.close()
    return {"seconds": time.perf_counter() - start, "bytes": total}


def _child_s3_download_fileobj(spec: dict) -> dict:
    import boto3
    from botocore.config import Config

    start = time.perf_counter()
    client = boto3.client(
        "s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
        aws_access_key_id=spec["access_key"], aws_secret_access_key=spec["secret_key"],
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
    total = [0]

    def count(n: int) -> None:
        total[0] += n

    # A seekable sink: s3transfer 0.19's path for non-seekable outputs stalls on a 2 GiB object here.
    with open(os.devnull, "wb") as null:
        client.download_fileobj(spec["bucket"], spec["key"], null, Callback=count)
    return {"seconds": time.perf_counter() - start, "bytes": total[0]}


def _child_sftp_getfo(spec: dict) -> dict:
    import paramiko

    start = time.perf_counter()
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    ssh.connect(spec["host"], spec["port"], username=spec["user"], key_filename=spec["key_file"],
                look_for_keys=False, allow_agent=False, timeout=10)
    try:
        sftp = ssh.open_sftp()
        total = sftp.getfo(spec["path"], NullSink())
        transport = ssh.get_transport()
        info = f"cipher {transport.remote_cipher}, mac {transport.remote_mac}" if transport else ""
    finally:
        ssh.close()
    return {"seconds": time.perf_counter() - start, "bytes": total, "info": info}


def _child_smb_read(spec: dict) -> dict:
    import smbclient

    start = time.perf_counter()
    session = smbclient.register_session(spec["host"], username=spec["user"], password=spec["password"],
                                         port=spec["port"], encrypt=True)
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    total = 0
    with smbclient.open_file(spec["unc"], mode="rb", buffering=0, username=spec["user"], password=spec["password"],
                             port=spec["port"], encrypt=True) as f:
        while n := f.readinto(view):
            total += n
    seconds = time.perf_counter() - start
    conn = session.connection
    ciphers = {1: "AES-128-CCM", 2: "AES-128-GCM", 3: "AES-256-CCM", 4: "AES-256-GCM"}
    cipher = ciphers.get(getattr(conn, "cipher_id", 0), "?")
    info = (f"dialect 0x{conn.dialect:04x}, cipher {cipher}, encrypt {session.encrypt_data}, "
            f"max read {conn.max_read_size}")
    smbclient.reset_connection_cache()
    return {"seconds": seconds, "bytes": total, "info": info}


CHILDREN: dict[str, Callable[[dict], dict]] = {
    "ours": _child_issue_verify,
    "console": _child_ours,
    "s3-get": _child_s3_get,
    "s3-download-fileobj": _child_s3_download_fileobj,
    "sftp-getfo": _child_sftp_getfo,
    "smb-read": _child_smb_read,
}


def child(mode: str, spec_file: Path) -> None:
    spec = json.loads(spec_file.read_text())
    result = CHILDREN[mode](spec)
    result["vmhwm_mb"] = _vmhwm_mb()
    print(json.dumps(result), flush=True)


# ================================================================ parent side


@dataclass
class Run:
    seconds: float  # the measured time (in-child for Python children, process wall for CLI clients)
    wall: float  # the whole child process, start-up included
    rss_mb: float  # ru_maxrss of the child (wait4)
    bytes: int
    info: str = ""
    hwm_mb: float | None = None  # VmHWM the child reported itself (Python children only)
    cpu_s: float = 0.0  # user + system CPU of the child (whole process, start-up included)
    server_cpu_s: float = 0.0  # user + system CPU the server (and its reaped per-client processes) used meanwhile
    others_cores: float = 0.0  # CPU used meanwhile by every other process on the machine, in cores (of os.cpu_count())


@dataclass
class Measure:
    label: str
    kind: str  # "ours" (the checked row) | "console" (information) | "baseline" (checked) | "native" (information)
    runner: Callable[[], Run]
    runs: list[Run] = field(default_factory=list)

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.seconds)

    @property
    def peak_rss(self) -> float:
        return max(r.rss_mb for r in self.runs)

    @property
    def peak_hwm(self) -> float | None:
        values = [r.hwm_mb for r in self.runs if r.hwm_mb is not None]
        return max(values) if values else None


class Spawner:
    """A small helper process that starts every measured child and reports exactly its wait4 rusage.

    On Linux a child's ru_maxrss is at least the RSS its *forking* process had at fork time (the copied
    address space's high-water mark survives exec), so children forked straight from this bench (which
    holds boto3, paramiko and a copy of the console) would all report >= its ~180 MB. The spawner is
    started before anything heavy is imported and imports only the standard library: the floor it puts
    under a child's ru_maxrss is its own few MB (printed at start-up).
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-S", str(Path(__file__).resolve()), "--spawner"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.floor_mb = self.request({"cmd": ["/bin/true"]})["maxrss_kb"] * 1024 / MB

    def request(self, job: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the spawner process died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawner_loop() -> None:
    """--spawner: for each JSON job on stdin run it, wait4 it, answer with wall time, ru_maxrss and exit code."""
    for line in sys.stdin:
        job = json.loads(line)
        with contextlib.ExitStack() as files:
            def stream(name: str, mode: str, job: dict[str, Any] = job) -> Any:
                return files.enter_context(open(job[name], mode)) if job.get(name) else subprocess.DEVNULL

            start = time.perf_counter()
            proc = subprocess.Popen(job["cmd"], env=job.get("env"), cwd=job.get("cwd"), stdin=stream("stdin", "rb"),
                                    stdout=stream("stdout", "wb"), stderr=stream("stderr", "wb"))
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        print(json.dumps({"wall": wall, "maxrss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime,
                          "code": proc.returncode}), flush=True)


SPAWNER: Spawner | None = None


def _spawn(cmd: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None,
           stdout_to_null: bool = False) -> tuple[float, float, str, str, int, float]:
    """Run a child through the spawner; return (wall s, ru_maxrss MB, stdout, stderr, exit code, cpu s)."""
    assert SPAWNER is not None
    with tempfile.TemporaryDirectory(prefix="rc-bench-io-") as io_dir:
        job: dict[str, Any] = {"cmd": cmd, "env": env, "cwd": str(ROOT), "stderr": f"{io_dir}/err"}
        if not stdout_to_null:
            job["stdout"] = f"{io_dir}/out"
        if stdin is not None:
            Path(io_dir, "in").write_bytes(stdin)
            job["stdin"] = f"{io_dir}/in"
        answer = SPAWNER.request(job)
        out_path, err_path = Path(io_dir, "out"), Path(io_dir, "err")
        stdout = out_path.read_text(errors="replace") if out_path.exists() else ""
        stderr = err_path.read_text(errors="replace") if err_path.exists() else ""
    return answer["wall"], answer["maxrss_kb"] * 1024 / MB, stdout, stderr, answer["code"], answer["cpu"]


def python_runner(mode: str, spec_file: Path, env: dict[str, str]) -> Callable[[], Run]:
    def run() -> Run:
        wall, rss, out, err, code, cpu = _spawn([sys.executable, str(Path(__file__).resolve()), "--child", mode,
                                                 "--spec", str(spec_file)], env=env)
        if code != 0:
            raise RuntimeError(f"child {mode} failed with exit code {code}:\n{err[-3000:]}")
        data = json.loads(out.strip().splitlines()[-1])
        return Run(data["seconds"], wall, rss, data["bytes"], data.get("info", ""), data.get("vmhwm_mb"), cpu)
    return run


def cli_runner(cmd: list[str], size: int, env: dict[str, str] | None = None, stdin: bytes | None = None,
               stdout_to_null: bool = False, check: Callable[[str, str], None] | None = None) -> Callable[[], Run]:
    def run() -> Run:
        wall, rss, out, err, code, cpu = _spawn(cmd, env=env, stdin=stdin, stdout_to_null=stdout_to_null)
        if code != 0:
            raise RuntimeError(f"{cmd[0]} failed with exit code {code}:\n{out[-2000:]}\n{err[-2000:]}")
        if check is not None:
            check(out, err)
        return Run(wall, wall, rss, size, cpu_s=cpu)
    return run


# ---------------------------------------------------------------- the backup


class _Plaintext:
    """sample-pg18-none.dump, then stamped copies of a 64 MiB random block, `size` bytes in all."""

    def __init__(self, size: int) -> None:
        head = SAMPLE.read_bytes()
        self.size = max(size, len(head))
        self._filler = bytearray(os.urandom(FILLER))
        self._pos = 0
        self._head = head

    def _byte_source(self, pos: int, want: int) -> bytes | memoryview:
        if pos < len(self._head):
            return self._head[pos:pos + want]
        rel = pos - len(self._head)
        block, off = divmod(rel, FILLER)
        if off < 8:  # stamp each copy so no two 64 MiB blocks are byte-identical
            stamp = block.to_bytes(8, "big")
            return stamp[off:off + min(want, 8 - off)]
        return memoryview(self._filler)[off:off + min(want, FILLER - off)]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        size = min(size, self.size - self._pos)
        out = bytearray()
        while len(out) < size:
            piece = self._byte_source(self._pos, size - len(out))
            out += piece
            self._pos += len(piece)
        return bytes(out)


def make_backup(folder: Path, size: int) -> tuple[Path, Any, float]:
    from recovery_console.engine.container.writer import encrypt_stream
    from recovery_console.models.backup import BackupMetadata

    metadata = BackupMetadata(backup_id=str(uuid.uuid4()), created_at="2025-01-01T00:00:00Z", app_version="1.0.0",
                              compression="none", source_name="bench-plain.dump")
    enc = folder / "bench.enc"
    start = time.perf_counter()
    source = _Plaintext(size)
    with open(enc, "wb") as sink:
        result = encrypt_stream(source, sink, SECRET, metadata, source_size=source.size, iterations=ITERATIONS)
    return enc, result, time.perf_counter() - start


def upload(console: Any, target: str, enc: Path, key: str, sha256: str) -> float:
    """The target's own Storage.put (open_upload: multipart / temp name + rename) plus its sidecar."""
    from recovery_console.engine.container.streams import SIDECAR_SUFFIX, sidecar_text

    storage = console.storage(target)
    start = time.perf_counter()
    buf = bytearray(8 << 20)
    with storage.put(key) as up, open(enc, "rb", buffering=0) as src:
        while n := src.readinto(buf):
            up.write(memoryview(buf)[:n])
    storage.put_bytes(key + SIDECAR_SUFFIX, sidecar_text(sha256, key.rsplit("/", 1)[-1]))
    seconds = time.perf_counter() - start
    close = getattr(storage, "close", None)
    if close is not None:
        close()
    return seconds


def machine_busy() -> float:
    """CPU seconds all processors have spent busy since boot (from /proc/stat; steal counted as busy)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds (reaped children included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def warm(path: Path) -> None:
    buf = bytearray(8 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


# ---------------------------------------------------------------- servers


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        base_dir = Path(args.dir) if args.dir else None
        if base_dir:
            base_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="rc-bench-targets-", dir=base_dir))
        self.tmp.chmod(0o700)
        self.home = self.tmp / "home"
        self.env = {**os.environ, **KEYRING_ENV, "RECOVERY_CONSOLE_HOME": str(self.home),
                    "XDG_DATA_HOME": str(self.home / "xdg-data"), "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
                    "PYTHONDONTWRITEBYTECODE": "1"}
        self.cleanups: list[Callable[[], None]] = []
        self.failed = False

    def spec(self, name: str, data: dict) -> Path:
        path = self.tmp / f"spec-{name}.json"
        path.write_text(json.dumps(data))
        path.chmod(0o600)
        return path

    def close(self) -> None:
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- S3 -----------------------------------------------------------------------------------

    def start_s3(self) -> dict:
        from tests.fixtures.s3 import RcloneS3, rclone_binary

        root = self.tmp / "rclone-s3"
        server = RcloneS3(data_dir=root / "data", log_file=root / "rclone.log")
        root.mkdir()
        server.start()
        self.cleanups.append(server.stop)
        bucket = server.make_bucket()
        from recovery_console.models.target import TargetConfig

        config = TargetConfig(name="bench-s3", kind="s3", options=server.target_options(bucket))
        version = subprocess.run([rclone_binary(), "version"], capture_output=True, text=True).stdout.split("\n")[0]
        return {"config": config, "secrets": {"secret_access_key": server.secret_key}, "server": server,
                "server_pid": lambda: server.process.pid,
                "bucket": bucket, "title": f"S3: {version.strip()} serve s3 on {server.endpoint_url}"}

    def measures_s3(self, ctx: dict, key: str, size: int) -> list[Measure]:
        from tests.fixtures.s3 import rclone_binary

        server = ctx["server"]
        spec = self.spec("s3", {"endpoint": server.endpoint_url, "access_key": server.access_key,
                                "secret_key": server.secret_key, "bucket": ctx["bucket"], "key": key})
        rclone_env = {**os.environ, "RCLONE_CONFIG": "/dev/null", "RCLONE_S3_PROVIDER": "Other",
                      "RCLONE_S3_ACCESS_KEY_ID": server.access_key, "RCLONE_S3_SECRET_ACCESS_KEY": server.secret_key,
                      "RCLONE_S3_ENDPOINT": server.endpoint_url, "RCLONE_S3_REGION": "us-east-1"}
        return [
            Measure("boto3 get_object, read(1 MiB) loop", "baseline", python_runner("s3-get", spec, self.env)),
            Measure("boto3 download_fileobj (10 threads)", "baseline",
                    python_runner("s3-download-fileobj", spec, self.env)),
            Measure("rclone cat (Go S3 client) >/dev/null", "native",
                    cli_runner([rclone_binary(), "cat", f":s3:{ctx['bucket']}/{key}"], size, env=rclone_env,
                               stdout_to_null=True)),
        ]

    def s3_object_path(self, ctx: dict, key: str) -> Path:
        return ctx["server"].data_dir / ctx["bucket"] / key

    # -- SFTP ---------------------------------------------------------------------------------

    def start_sftp(self) -> dict:
        from tests.fixtures import sftp as fx

        if os.geteuid() != 0 or not os.path.exists(fx.SSHD):
            raise RuntimeError("SFTP needs root and /usr/sbin/sshd")
        # the `sftp_users` fixture's body: the shared, persistent test accounts (not removed afterwards,
        # other test sessions on this machine rely on them)
        with fx._state_lock():
            pw_user = fx.SftpUser(fx.PASSWORD_USER, fx._stored_secret(f"{fx.PASSWORD_USER}.password"), Path("/"))
            pw_user.home = fx._ensure_user(pw_user.name, pw_user.password)
            key_user = fx.SftpUser(fx.KEY_USER, fx._stored_secret(f"{fx.KEY_USER}.password"), Path("/"),
                                   rsa_passphrase=fx._stored_secret("id_rsa.passphrase", 12))
            key_user.home = fx._ensure_user(key_user.name, key_user.password)
            ed_file = fx._stored_key("id_ed25519", "ed25519", "")
            rsa_file = fx._stored_key("id_rsa", "rsa", key_user.rsa_passphrase)
            fx._install_authorized_keys(key_user, [ed_file.with_suffix(".pub"), rsa_file.with_suffix(".pub")])
        key_user.ed25519_key = ed_file.read_text()
        key_user.key_files = {"ed25519": ed_file, "rsa": rsa_file}
        users = fx.SftpUsers(pw_user, key_user)
        # the `sftp_server` fixture
        workdir = self.tmp / "sshd"
        workdir.mkdir()
        server = fx.SshServer(workdir, users, "bench-sshd")
        server.start()
        self.cleanups.append(server.stop)
        # `_sftp_dir_base` + `sftp_dir`: a directory both users may write, outside our root-only temp dir
        base = Path(tempfile.mkdtemp(prefix="rc-bench-sftp-", dir="/tmp"))
        self.cleanups.append(lambda: shutil.rmtree(base, ignore_errors=True))
        base.chmod(0o755)
        directory = base / "target"
        directory.mkdir()
        shutil.chown(directory, pw_user.name, fx.GROUP)
        directory.chmod(0o2770)
        from recovery_console.models.target import TargetConfig

        config = TargetConfig(name="bench-sftp", kind="sftp",
                              options=server.options(key_user, directory, auth="key"))
        version = subprocess.run([fx.SSHD, "-V"], capture_output=True, text=True).stderr.strip().split(",")[0]
        return {"config": config, "secrets": key_user.secrets("key", "ed25519"), "server": server, "user": key_user,
                "server_pid": lambda: server.process.pid,
                "directory": directory, "title": f"SFTP: {version} sshd on {server.host}:{server.port}, "
                                                 f"user {key_user.name} (Ed25519 key)"}

    def measures_sftp(self, ctx: dict, key: str, size: int) -> list[Measure]:
        server, user = ctx["server"], ctx["user"]
        path = str(ctx["directory"] / key)
        key_file = str(user.key_files["ed25519"])
        spec = self.spec("sftp", {"host": server.host, "port": server.port, "user": user.name, "key_file": key_file,
                                  "path": path})
        ssh_opts = ["-i", key_file, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes"]
        batch = f'get "{path}" /dev/null\n'.encode()
        return [
            Measure("paramiko SFTPClient.getfo -> null", "baseline", python_runner("sftp-getfo", spec, self.env)),
            Measure("OpenSSH sftp -b 'get F /dev/null'", "native",
                    cli_runner(["sftp", "-q", "-b", "-", "-P", str(server.port), *ssh_opts,
                                f"{user.name}@{server.host}"], size, stdin=batch)),
            Measure("OpenSSH scp F /dev/null", "native",
                    cli_runner(["scp", "-q", "-P", str(server.port), *ssh_opts,
                                f"{user.name}@{server.host}:{path}", "/dev/null"], size)),
        ]

    def sftp_object_path(self, ctx: dict, key: str) -> Path:
        return ctx["directory"] / key

    # -- SMB ----------------------------------------------------------------------------------

    def start_smb(self) -> dict:
        import secrets as random

        from tests.fixtures import smb as fx

        if os.geteuid() != 0 or not fx.SMBD or not fx.SMBPASSWD:
            raise RuntimeError("SMB needs root, smbd and smbpasswd")
        fx._ensure_user()
        password = "Rc-Smb-" + random.token_urlsafe(12)  # the `smb_password` fixture
        base = fx._base_dir()
        self.cleanups.append(lambda: shutil.rmtree(base, ignore_errors=True))
        server = fx.SmbServer(base / "server", password,
                              shares={"backups": {"path": str(fx._share_dir(base / "share")), "read only": "no"}})
        server.start()
        self.cleanups.append(fx._close_client_connections)
        self.cleanups.append(server.stop)
        spot = fx.fresh_spot(server)
        from recovery_console.models.target import TargetConfig

        config = TargetConfig(name="bench-smb", kind="smb", options=spot.options())
        version = subprocess.run([fx.SMBD or "smbd", "--version"], capture_output=True, text=True).stdout.strip()
        return {"config": config, "secrets": {"password": password}, "server": server, "spot": spot,
                "server_pid": lambda: server.proc.pid,
                "title": f"SMB3: Samba smbd {version} on {server.host}:{server.port}, share 'backups', "
                         "server min protocol = SMB3, server smb encrypt = required"}

    def measures_smb(self, ctx: dict, key: str, size: int) -> list[Measure]:
        server, spot = ctx["server"], ctx["spot"]
        remote = f"{spot.directory}/{key}"
        unc = "\\\\" + server.host + "\\backups\\" + remote.replace("/", "\\")
        spec = self.spec("smb", {"host": server.host, "port": server.port, "user": server.user,
                                 "password": server.password, "unc": unc})
        auth = self.tmp / "smb-auth"
        auth.write_text(f"username = {server.user}\npassword = {server.password}\ndomain = WORKGROUP\n")
        auth.chmod(0o600)
        conf = self.tmp / "smbclient.conf"
        conf.write_text("[global]\n  client min protocol = SMB3\n")

        def check(out: str, err: str) -> None:
            if "getting file" not in out + err:
                raise RuntimeError(f"smbclient did not get the file:\n{out}\n{err}")

        return [
            Measure("smbprotocol open_file readinto(1 MiB)", "baseline", python_runner("smb-read", spec, self.env)),
            Measure("smbclient -m SMB3 encrypt get >/dev/null", "native",
                    cli_runner(["smbclient", f"//{server.host}/backups", "-p", str(server.port), "-s", str(conf),
                                "-A", str(auth), "-m", "SMB3", "--client-protection=encrypt",
                                "-c", f'get "{remote}" /dev/null'], size, check=check)),
        ]

    def smb_object_path(self, ctx: dict, key: str) -> Path:
        return ctx["spot"].path / key


# ---------------------------------------------------------------- report


def print_table(title: str, measures: list[Measure], repeat: int) -> bool:
    """Print one target's table; True if every check passes."""
    print()
    print(f"== {title}")
    print(f"{'run (best of ' + str(repeat) + ')':<44} {'time s':>7} {'MB/s':>7} {'proc s':>7} {'cpu s':>6} "
          f"{'srv cpu':>7} {'others':>6} {'RSS MB':>7} {'HWM MB':>7}   all runs s")
    print("-" * 123)
    for m in measures:
        b = m.best
        runs = "/".join(f"{r.seconds:.2f}" for r in m.runs)
        name = {"ours": "ours: ", "console": "info: ", "native": "native: "}.get(m.kind, "base: ") + m.label
        hwm = f"{m.peak_hwm:>7.1f}" if m.peak_hwm is not None else f"{'-':>7}"
        print(f"{name:<44} {b.seconds:>7.2f} {b.bytes / MB / b.seconds:>7.1f} {b.wall:>7.2f} {b.cpu_s:>6.2f} "
              f"{b.server_cpu_s:>7.2f} {b.others_cores:>6.2f} {m.peak_rss:>7.1f} {hwm}   {runs}")
    for m in measures:
        if m.best.info:
            print(f"  ({m.label}, best run: {m.best.info})")
    ours = next(m for m in measures if m.kind == "ours")
    console = next((m for m in measures if m.kind == "console"), None)
    ok = True
    print(f"{'check':<60} {'value':>9} {'target':>9}  result")
    for m in measures:
        if m.kind not in ("baseline", "native"):
            continue
        ratio = ours.best.seconds / m.best.seconds
        if m.kind == "baseline":
            verdict = "PASS" if ratio <= RATIO_LIMIT else "FAIL"
            ok &= verdict == "PASS"
            print(f"{'ratio ours / ' + m.label:<60} {ratio:>9.3f} {'<= ' + str(RATIO_LIMIT):>9}  {verdict}")
        else:
            print(f"{'  info: ours / native ' + m.label:<60} {ratio:>9.3f}")
        if console is not None:
            print(f"{'  info: console verify (+ sidecar hash) / ' + m.label:<60} "
                  f"{console.best.seconds / m.best.seconds:>9.3f}")
    for m in (ours, console):
        if m is None:
            continue
        verdict = "PASS" if m.peak_rss <= RSS_LIMIT_MB else "FAIL"
        ok &= verdict == "PASS"
        print(f"{'peak RSS of ' + m.label + ' (max over runs)':<60} {m.peak_rss:>6.1f} MB "
              f"{'<= ' + str(RSS_LIMIT_MB):>9}  {verdict}")
    return ok


def profile_ours(bench: Bench, spec: Path, kind: str, top: int = 14) -> None:
    """One extra verify under py-spy (100 Hz, non-idle samples only, per thread); print the hottest leaf frames."""
    py_spy = shutil.which("py-spy")
    if not py_spy:
        print("(py-spy is not installed: pip install py-spy)")
        return
    out = bench.tmp / f"py-spy-{kind}.txt"
    cmd = [py_spy, "record", "--rate", "100", "--threads", "--nonblocking", "--format", "raw", "-o", str(out), "--",
           sys.executable, str(Path(__file__).resolve()), "--child", "ours", "--spec", str(spec)]
    wall, _rss, _out, stderr, code, _cpu = _spawn(cmd, env=bench.env)
    if code != 0 or not out.exists():
        print(f"(py-spy failed with exit code {code}: {stderr[-1500:]})")
        return
    threads: dict[str, int] = {}
    self_time: dict[tuple[str, str], int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0]
        if thread.startswith("process"):
            frames = frames[1:]
            thread = frames[0] if frames else thread
        frames = frames[1:]
        name = thread.split("): ", 1)[1] if "): " in thread else "(unnamed: start-up)"
        name = name.rstrip("_0123456789") or name  # rc-decrypt_0 -> rc-decrypt
        threads[name] = threads.get(name, 0) + count
        total += count
        if frames:
            leaf = frames[-1].split(" (")[0] + " (" + frames[-1].split(" (")[-1] if " (" in frames[-1] else frames[-1]
            self_time[(name, leaf)] = self_time.get((name, leaf), 0) + count
    print(f"py-spy of one extra verify ({wall:.2f} s under the profiler): {total} samples of non-idle threads at "
          f"100/s (a thread waiting for the GIL counts as non-idle)")
    for name, count in sorted(threads.items(), key=lambda kv: -kv[1]):
        print(f"  thread {name:<22} {count / 100:>6.2f} s non-idle")
    print("  hottest leaf frames (self):")
    for (name, frame), count in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {count / 100:>6.2f} s  [{name}] {frame}")


def parent(args: argparse.Namespace) -> int:
    global SPAWNER
    size = int(args.size_gib * (1 << 30))
    SPAWNER = Spawner()  # first, while this process is still small
    wanted = [t.strip() for t in args.only.split(",") if t.strip()]
    for env_key, value in KEYRING_ENV.items():  # the parent's own Console uses the same temp keyring
        os.environ[env_key] = value
    bench = Bench(args)
    os.environ.update({k: bench.env[k] for k in ("RECOVERY_CONSOLE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")})
    sys.path.insert(0, str(ROOT))  # tests.fixtures
    overall = True
    try:
        print(f"load average at start: {_loadavg()}; cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
        print("ours = read_stream(full=True, hash_ciphertext=False) of console.locate(id, target), the full verify "
              "issue #2 defines; info = Console.verify (full + sidecar hash); each in a fresh child per run;")
        print("  target secrets from the console's SecretStore over keyrings.alt PlaintextKeyring in the temp home "
              "(RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING=1).")
        print(f"RSS MB = ru_maxrss of the child from wait4 (children are started by a small spawner process, so "
              f"the floor under it is {SPAWNER.floor_mb:.1f} MB); HWM MB = the child's own VmHWM.")
        print("time: Python children time their own work from before connecting to the end (imports excluded); "
              "CLI clients: process wall time. 'proc s' = whole child process wall time; 'cpu s' = the child's "
              "user+sys CPU (start-up included); 'srv cpu' = CPU the server used during that run; 'others' = cores "
              "busy with unrelated processes meanwhile. Columns other than 'all runs' are from the best run, RSS/HWM "
              "the max over runs.")
        from recovery_console.engine.console import Console
        from recovery_console.engine.container.naming import backup_key
        from recovery_console.engine.state.paths import AppPaths

        print(f"building a {size / (1 << 30):.2f} GiB backup in {bench.tmp} ...", flush=True)
        enc, result, seconds = make_backup(bench.tmp, size)
        key = backup_key(result.metadata)
        backup_id = result.metadata.backup_id
        print(f"encrypt_stream (compression none, {ITERATIONS} iterations, chunk {result.metadata.chunk_size} B): "
              f"{seconds:.2f} s, {enc.stat().st_size / MB:.1f} MB ciphertext; key {key}")
        console = Console(AppPaths.default())
        status = console.secrets.probe()
        print(f"keyring backend: {status.backend} (secure={status.secure}, opt-in={status.insecure_opt_in})")

        starters = {"s3": bench.start_s3, "sftp": bench.start_sftp, "smb": bench.start_smb}
        measure_fns = {"s3": bench.measures_s3, "sftp": bench.measures_sftp, "smb": bench.measures_smb}
        object_paths = {"s3": bench.s3_object_path, "sftp": bench.sftp_object_path, "smb": bench.smb_object_path}
        for kind in wanted:
            print(f"\n-- {kind}: starting the server (load {_loadavg()})", flush=True)
            try:
                ctx = starters[kind]()
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # InsecureKeyringWarning, chosen above
                    console.add_target(ctx["config"], ctx["secrets"])
                    up = upload(console, ctx["config"].name, enc, key, result.encrypted_sha256)
                    records, _ = console.list_backups([ctx["config"].name])
                assert any(r.backup_id == backup_id or r.key == key for r in records), "backup not in the catalog"
                print(f"uploaded with {ctx['config'].name}'s Storage.put + sidecar in {up:.2f} s "
                      f"({enc.stat().st_size / MB / up:.1f} MB/s); catalog synced", flush=True)
                remote_file = object_paths[kind](ctx, key)
                assert remote_file.stat().st_size == enc.stat().st_size, "server-side file has the wrong size"
                warm(remote_file)  # the server reads from its page cache in every run
                measures = measure_fns[kind](ctx, key, enc.stat().st_size)
                spec = bench.spec(f"ours-{kind}", {"backup_id": backup_id[:8], "target": ctx["config"].name})
                measures.append(Measure("full verify (issue #2) from target", "ours",
                                        python_runner("ours", spec, bench.env)))
                measures.append(Measure("Console.verify (full + sidecar)", "console",
                                        python_runner("console", spec, bench.env)))
                for round_ in range(args.repeat):
                    for m in measures:
                        print(f"  round {round_ + 1}/{args.repeat}: {m.label} ...", end="", flush=True)
                        before, busy = process_cpu(ctx["server_pid"]()), machine_busy()
                        r = m.runner()
                        busy = machine_busy() - busy
                        time.sleep(0.3)  # let the server reap its per-client process (smbd, sshd)
                        r.server_cpu_s = process_cpu(ctx["server_pid"]()) - before
                        r.others_cores = max(0.0, busy - r.cpu_s - r.server_cpu_s) / r.wall
                        m.runs.append(r)
                        print(f" {r.seconds:.2f} s, RSS {r.rss_mb:.0f} MB (load {os.getloadavg()[0]:.2f}, other "
                              f"processes used {r.others_cores:.2f} of {os.cpu_count()} cores meanwhile)", flush=True)
                overall &= print_table(ctx["title"], measures, args.repeat)
                if args.py_spy:
                    profile_ours(bench, spec, kind)
                print(f"load average after {kind}: {_loadavg()}", flush=True)
            finally:
                # stop this target's servers now: the next target runs on a quiet machine
                for fn in reversed(bench.cleanups):
                    try:
                        fn()
                    except Exception as exc:  # noqa: BLE001
                        print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)
                bench.cleanups.clear()
        print(f"\nload average at end: {_loadavg()}")
        print("OVERALL:", "PASS" if overall else "FAIL")
    finally:
        bench.close()
        SPAWNER.close()
    return 0 if overall else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gib", type=float, default=2.0,
                        help="backup size in GiB (default 2; smaller for a quick run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="s3,sftp,smb", help="comma-separated subset of s3,sftp,smb")
    parser.add_argument("--dir", help="where to put the temporary files (default: the system temp dir)")
    parser.add_argument("--py-spy", action="store_true",
                        help="after the timed runs, run one more (untimed) verify per target under `py-spy record` "
                             "and print where its threads spend CPU")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spawner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.spawner:
        spawner_loop()
        return 0
    if args.child:
        child(args.child, args.spec)
        return 0
    if os.geteuid() != 0:
        print("needs root: the servers add local users and run sshd/smbd, as the test fixtures do", file=sys.stderr)
        return 2
    if args.size_gib < 2:
        print("note: the targets are defined for a 2 GiB backup; this is a smaller, quick run", file=sys.stderr)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
