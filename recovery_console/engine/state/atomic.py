"""Local output files that appear only when complete: write to a private temp name, fsync, rename."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from recovery_console.engine.storage.write_behind import synced_behind
from recovery_console.errors import UsageError, from_os_error

if TYPE_CHECKING:
    from recovery_console.engine.state.runtime_dir import RuntimeDir


@contextmanager
def atomic_output(path: Path, overwrite: bool = False, *, claims: RuntimeDir | None = None,
                  large: bool = False) -> Iterator[BinaryIO]:
    """Yield a 0600 temp file beside `path`; rename it into place only if the block succeeds.

    With `claims`, the temp file is claimed in the runtime folder, so that the next start removes it if this
    process is killed before it can (it may hold plaintext). `large`: the file is synced behind its writer
    (engine/storage/write_behind.py), so the closing fsync waits for its tail only.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists; nothing was written.",
                         hint="Choose another output path, or say that it may be replaced.",
                         cli_hint="Choose another output path, or pass --force to replace it.")
    if claims is None:
        yield from _written(path, None, large)
        return
    with claims.claim(path.parent / f".{path.name}.{secrets.token_hex(4)}.part") as tmp:
        yield from _written(path, tmp, large)


def _written(path: Path, tmp_name: Path | None, large: bool) -> Iterator[BinaryIO]:
    """The body of atomic_output: create the temp file (`tmp_name`, or a fresh name), yield it, rename it."""
    try:
        if tmp_name is None:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
        else:
            fd, tmp = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(tmp_name)
    except FileNotFoundError:
        raise UsageError(f"The folder {path.parent} does not exist.") from None
    except OSError as exc:
        raise from_os_error("creating a file in", str(path.parent), exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            with synced_behind(fd) if large else nullcontext():
                yield handle
                handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_STATE_CLAIMS: dict[Path, RuntimeDir] = {}
"""State folders (a console's config and data folders) and the runtime folder their temp files are claimed in."""


def claim_state_writes(folders: Iterable[Path], runtime: RuntimeDir) -> None:
    """Have write_json claim the temp files of state files under `folders` in `runtime` from now on, so that a
    kill in the middle of a write (an audit anchor, a target's health) leaves nothing the next start keeps."""
    for folder in folders:
        _STATE_CLAIMS[Path(folder).absolute()] = runtime


def write_json(path: Path, data: object, *, sort_keys: bool = False, claims: RuntimeDir | None = None) -> None:
    """Replace a settings or state file whole with `data` as indented UTF-8 JSON; its folder is made private.
    With `claims` (by default, those of its state folder: claim_state_writes), a temp file left by a kill is
    removed at the next start (see atomic_output)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if claims is None:
        claims = next((_STATE_CLAIMS[p] for p in Path(path).absolute().parents if p in _STATE_CLAIMS), None)
    with atomic_output(path, overwrite=True, claims=claims) as handle:
        handle.write((json.dumps(data, indent=2, ensure_ascii=False, sort_keys=sort_keys) + "\n").encode("utf-8"))
