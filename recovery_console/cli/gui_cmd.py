"""`recovery-console gui`: start the desktop console (needs the `gui` extra: PySide6 and qasync)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from recovery_console.errors import RecoveryError

GUI_MODULES = ("PySide6", "qasync")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="open this profile")
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE",
                        help="a backup file to verify and list (File › Open backup file); nothing is decrypted")
    parser.set_defaults(func=cmd_gui)


def require_gui_libraries() -> None:
    """Refuse plainly, naming what to install, when this is a headless install without Qt."""
    missing = [name for name in GUI_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise RecoveryError(f"The desktop console needs {' and '.join(missing)}, which this installation lacks "
                            "(it was installed without the gui extra).",
                            hint="Install them into the same environment with "
                                 "`pip install 'recovery-console[gui]'`, or use the command-line commands "
                                 "(`recovery-console --help`).")


def cmd_gui(args: argparse.Namespace) -> int:
    require_gui_libraries()
    from recovery_console.ui.app import run

    return run(profile=args.profile, backup_file=args.file)
