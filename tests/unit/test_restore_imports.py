"""A restore pays at start only for the modules it uses: each library below costs tenths of a second to import."""

from __future__ import annotations

import subprocess
import sys

STORAGE_LIBRARIES = ("boto3", "botocore", "paramiko", "smbprotocol", "smbclient")
LATER = ("psycopg", "numpy", "keyring", "PySide6", "lz4", "segno")  # loaded on first use, off the restore's path

PROBE = """
import contextlib, io, sys
from recovery_console.cli.main import build_parser
argv = sys.argv[1:]
with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
    build_parser(argv).parse_args(argv)
{extra}
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _loaded(argv: list[str], extra: str = "") -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(extra=extra), *argv], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def test_the_restore_command_loads_no_storage_library_database_driver_or_keyring_before_it_runs() -> None:
    for argv in (["restore", "run", "--help"], ["restore", "run", "ID", "--profile", "p", "--yes"],
                 ["restore", "preflight", "ID", "--profile", "p"]):
        loaded = _loaded(argv)
        assert "recovery_console" in loaded
        assert not loaded & {*STORAGE_LIBRARIES, *LATER}, (argv, sorted(loaded & {*STORAGE_LIBRARIES, *LATER}))


def test_the_restore_engine_loads_no_storage_library() -> None:
    """A restore from a local target must not pay for the S3, SFTP and SMB libraries: they load with their target."""
    loaded = _loaded(["restore", "run", "--help"], extra="import recovery_console.engine.restore")
    assert not loaded & set(STORAGE_LIBRARIES), sorted(loaded & set(STORAGE_LIBRARIES))
