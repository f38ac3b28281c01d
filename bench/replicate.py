"""Benchmark: replicating a backup local → S3 (`rclone serve s3` on 127.0.0.1) vs a boto3 `upload_file` of it.

    python bench/replicate.py [--size-mib 2048] [--repeat 2]      (or RC_BENCH_COPY_MIB=256)

Builds one uncompressed backup of the given size (tests/fixtures/synthetic.py) in a local target with
its sidecar, then times, alternately, each --repeat times (best time reported):

  boto3     `client.upload_file(path, bucket, key)` with boto3's default TransferConfig (8 MiB parts,
            10 threads): the baseline.
  ours      `engine.replicate.replicate(console, ref, "offsite", reporter)` through the real console
            (targets.json, the secret from a keyring, the catalog): the whole copy as run-due and
            `backup copy` do it, i.e. the streamed upload (hashed, committed only if it matches the
            sidecar), the sidecar, and the read-back of the copy from S3 checked against the sidecar.
            Its upload and read-back phases are shown apart.

Target (issue #16): ours <= 1.1 × boto3. The checked ratio is the whole copy, read-back included, as the
issue asks for a copy that is checked on the secondary. Peak RSS growth of the copy is printed too
(constant memory: one 1 MiB buffer and one S3 part). Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RATIO_LIMIT = 1.1
SECRET = "bench-instance-secret"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=int(os.environ.get("RC_BENCH_COPY_MIB", 2048)))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rc-bench-copy-") as tmp:
        home = Path(tmp)
        os.environ.update({"RECOVERY_CONSOLE_HOME": str(home / "home"), "XDG_DATA_HOME": str(home / "xdg-data"),
                           "RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING": "1",
                           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"})
        warnings.simplefilter("ignore")  # the temp keyring's "stored unencrypted" warning, expected here
        return run(home, args.size_mib << 20, args.repeat)


def run(tmp: Path, size: int, repeat: int) -> int:
    from recovery_console.engine.console import Console
    from recovery_console.engine.container.naming import backup_key
    from recovery_console.engine.container.verify import read_metadata
    from recovery_console.engine.progress import Phase, Progress, Reporter
    from recovery_console.engine.replicate import replicate
    from recovery_console.engine.state.paths import AppPaths
    from recovery_console.models.target import TargetConfig
    from tests.fixtures.s3 import RcloneS3
    from tests.fixtures.synthetic import make_large_backup

    server = RcloneS3(data_dir=tmp / "s3" / "data", log_file=tmp / "rclone.log").start()
    try:
        made = tmp / "made.enc"
        print(f"building a {size / (1 << 20):,.0f} MiB backup…", flush=True)
        make_large_backup(made, size, SECRET, 1000)
        with open(made, "rb") as stream:
            _, metadata = read_metadata(stream, SECRET)
        key = backup_key(metadata)
        source = tmp / "vault" / key
        source.parent.mkdir(parents=True)
        made.rename(source)
        sha = hashlib.sha256()
        with open(source, "rb") as stream:
            while block := stream.read(1 << 20):
                sha.update(block)
        source.with_name(source.name + ".sha256").write_text(f"{sha.hexdigest()}  {source.name}\n")
        stored = source.stat().st_size

        console = Console(AppPaths.default())
        console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp / "vault")}))
        client = server.client()
        best_boto = best_ours = float("inf")
        phases: dict[Phase, float] = {}
        rss_growth = 0.0
        for round_no in range(repeat):
            bucket = server.make_bucket()
            began = time.perf_counter()
            client.upload_file(str(source), bucket, key)
            best_boto = min(best_boto, time.perf_counter() - began)

            target = f"offsite{round_no}"
            options = server.target_options(server.make_bucket())
            console.add_target(TargetConfig(name=target, kind="s3", options=options),
                               {"secret_access_key": server.secret_key})
            console.sync("vault")
            ref = console.locate("vault:" + key)
            starts: dict[Phase, float] = {}

            def seen(progress: Progress, starts: dict[Phase, float] = starts) -> None:
                starts.setdefault(progress.phase, time.perf_counter())

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            began = time.perf_counter()
            result = replicate(console, ref, target, Reporter(sink=seen))
            ended = time.perf_counter()
            rss_growth = max(rss_growth, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024)
            assert result.sha256 == sha.hexdigest() and not result.already
            if ended - began < best_ours:
                best_ours = ended - began
                phases = {Phase.UPLOAD: starts[Phase.VERIFY] - starts[Phase.UPLOAD],
                          Phase.VERIFY: ended - starts[Phase.VERIFY]}
        console.close()
    finally:
        server.stop()

    mb = stored / 1e6
    print(f"backup:          {stored:,} bytes; best of {repeat}; load average {os.getloadavg()[0]:.2f}")
    print(f"boto3 upload_file: {best_boto:7.2f} s  {mb / best_boto:7.1f} MB/s")
    print(f"ours (replicate):  {best_ours:7.2f} s  {mb / best_ours:7.1f} MB/s  "
          f"(upload {phases[Phase.UPLOAD]:.2f} s, read-back check {phases[Phase.VERIFY]:.2f} s)")
    print(f"peak RSS growth during the copy: {rss_growth:.0f} MiB")
    ratio = best_ours / best_boto
    upload_ratio = phases[Phase.UPLOAD] / best_boto
    print(f"ratio ours/boto3: {ratio:.2f} (upload phase alone {upload_ratio:.2f}); "
          f"target <= {RATIO_LIMIT}: {'met' if ratio <= RATIO_LIMIT else 'NOT met'}")
    return 0 if ratio <= RATIO_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
