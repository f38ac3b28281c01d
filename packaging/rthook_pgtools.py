"""PyInstaller runtime hook of the frozen Recovery Console (runs before any application code).

1. The bundle ships PostgreSQL client tools in ``postgresql/<major>/bin`` next to the
   executable (``dist/recovery-console/postgresql/18/bin/pg_restore`` …; see
   packaging/build.sh). recovery_console.engine.pg.pgtools searches the folders named in
   RECOVERY_CONSOLE_PG_DIRS as "configured" folders, so the bundled bin folders are appended
   to that variable (after anything the user set, which keeps precedence). The bundled tools
   then win over system ones of the same major, and every supported major is there. (The
   newest major's folder also holds the sandbox's server, initdb and postgres, which
   recovery_console.engine.pg.private_server finds beside the executable by itself.)

2. PyInstaller's bootloader prepends the bundle's private library folder (``_internal``) to
   LD_LIBRARY_PATH and keeps the user's value in LD_LIBRARY_PATH_ORIG. That only matters to
   child processes (the running process resolved its libraries already), and for them it is
   wrong: pg_dump/pg_restore/psql — bundled or the system's — would load the bundle's copies of
   libssl, libz, libzstd … instead of their own. The user's original value is restored for
   children. The bundled PostgreSQL tools find their libraries through their RUNPATH
   (``$ORIGIN/../lib``), not through the environment.

Nothing here changes behaviour beyond what a non-frozen install with those tools on
RECOVERY_CONSOLE_PG_DIRS would do.
"""

import glob
import os
import sys

ENV_DIRS = "RECOVERY_CONSOLE_PG_DIRS"  # recovery_console.engine.pg.pgtools.ENV_DIRS


def _bundle_roots() -> list:
    """The bundle's top folder (also when the executable is started through a symlink) and _internal."""
    internal = getattr(sys, "_MEIPASS", None)
    candidates = [os.path.dirname(os.path.realpath(sys.executable))]
    if internal:
        candidates += [os.path.dirname(os.path.realpath(internal)), internal]
    roots = []
    for root in candidates:
        if root and root not in roots:
            roots.append(root)
    return roots


def _major_key(path: str):
    name = os.path.basename(os.path.dirname(path))  # .../postgresql/<major>/bin
    return (0, -int(name)) if name.isdigit() else (1, name)


def _bundled_pg_bin_dirs() -> list:
    found = []
    for root in _bundle_roots():
        for bin_dir in sorted(glob.glob(os.path.join(root, "postgresql", "*", "bin")), key=_major_key):
            if os.path.isdir(bin_dir) and bin_dir not in found:
                found.append(bin_dir)
    return found


def _add_pg_dirs() -> None:
    current = [part for part in os.environ.get(ENV_DIRS, "").split(os.pathsep) if part.strip()]
    added = [d for d in _bundled_pg_bin_dirs() if d not in current]
    if added:
        os.environ[ENV_DIRS] = os.pathsep.join(current + added)


def _restore_library_path() -> None:
    if not sys.platform.startswith("linux"):
        return
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        os.environ["LD_LIBRARY_PATH"] = original
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)


if getattr(sys, "frozen", False):
    _add_pg_dirs()
    _restore_library_path()
