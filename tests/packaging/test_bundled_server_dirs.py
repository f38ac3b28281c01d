"""private_server.bundled_dirs: the frozen bundle's server folders are found beside its executable (no build)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from recovery_console.engine.pg import private_server
from recovery_console.engine.pg.private_server import (
    SOURCE_BUNDLED,
    PrivateServer,
    ServerBinaries,
    bundled_dirs,
    find_servers,
)
from recovery_console.errors import DatabaseError


def bundle(root: Path, majors: tuple[int, ...]) -> Path:
    """A bundle's layout: the executable, _internal/ and postgresql/<major>/bin for each major."""
    (root / "_internal").mkdir(parents=True)
    exe = root / "recovery-console"
    exe.write_text("")
    for major in majors:
        (root / "postgresql" / str(major) / "bin").mkdir(parents=True)
    (root / "postgresql" / "lib").mkdir()  # the shared libraries' folder: no major, never a bin folder
    return exe


def frozen(monkeypatch: pytest.MonkeyPatch, executable: Path, internal: Path) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(executable))
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)


def test_not_frozen_finds_no_bundle() -> None:
    assert not getattr(sys, "frozen", False)
    assert bundled_dirs() == []


def test_frozen_finds_every_major_newest_first_also_through_a_symlink(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "opt" / "recovery-console"
    exe = bundle(root, (14, 18, 9))
    link = tmp_path / "bin" / "recovery-console"
    link.parent.mkdir()
    link.symlink_to(exe)
    frozen(monkeypatch, link, root / "_internal")
    folders = [root / "postgresql" / str(major) / "bin" for major in (18, 14, 9)]
    assert [Path(os.path.realpath(d)) for d in bundled_dirs()] == [Path(os.path.realpath(d)) for d in folders]


def test_the_bundled_server_comes_before_the_systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server in the bundle is labelled `bundled` and ranks with the configured folders, ahead of PATH."""
    root = tmp_path / "recovery-console"
    exe = bundle(root, (18,))
    bin_dir = root / "postgresql" / "18" / "bin"
    for tool in private_server.SERVER_TOOLS:
        script = bin_dir / tool
        script.write_text("#!/bin/sh\necho \"" + tool + " (PostgreSQL) 18.6\"\n")
        script.chmod(0o755)
    frozen(monkeypatch, exe, root / "_internal")
    monkeypatch.delenv("RECOVERY_CONSOLE_PG_DIRS", raising=False)
    found = find_servers()
    assert found and found[0].bin_dir == bin_dir and found[0].source == SOURCE_BUNDLED and found[0].major == 18
    assert found[0].bundled and found[0].describe() == f"PostgreSQL 18.6 ({bin_dir}, bundled)"


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: the server then runs as another user")
def test_as_root_a_server_its_user_cannot_reach_is_an_error_saying_where_to_unpack(tmp_path: Path) -> None:
    """A bundle unpacked in root's own folder: the server's user (postgres) cannot run its initdb."""
    closed = tmp_path / "root-only"
    bin_dir = closed / "recovery-console" / "postgresql" / "18" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in private_server.SERVER_TOOLS:
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    closed.chmod(0o700)
    folder = Path(tempfile.mkdtemp(prefix="rc-sandbox-test-"))
    try:
        server = PrivateServer(ServerBinaries(bin_dir, "18.6", 18, SOURCE_BUNDLED), folder)
        with pytest.raises(DatabaseError) as raised:
            server.init()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert str(bin_dir) in raised.value.message and "/opt" in raised.value.hint
