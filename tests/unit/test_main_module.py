"""`python -m recovery_console` on a headless install (no `gui` extra): it says what to install, no traceback.

Qt is made unimportable in a fresh interpreter by a `sitecustomize` on PYTHONPATH that marks PySide6
and qasync as absent in `sys.modules` (so both `import` and `importlib.util.find_spec` see no Qt),
then the real `python -m recovery_console` runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from recovery_console.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
NO_QT = "import sys\nfor name in ('PySide6', 'qasync'):\n    sys.modules[name] = None\n"


def no_qt_shim(tmp_path: Path) -> Path:
    shim = tmp_path / "no-qt"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_QT)
    return shim


def run_headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shim = no_qt_shim(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)]), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "recovery_console", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_shim_really_hides_qt(tmp_path: Path) -> None:
    shim = no_qt_shim(tmp_path)
    probe = "import importlib.util as u\nprint(u.find_spec('PySide6'), u.find_spec('qasync'))\nimport PySide6\n"
    result = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(shim)},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "None None"
    assert "ModuleNotFoundError" in result.stderr


def test_python_m_without_qt_names_the_extra_to_install(tmp_path: Path) -> None:
    result = run_headless(tmp_path)
    assert result.returncode == int(ExitCode.ERROR), result.stderr
    assert "Traceback" not in result.stderr
    assert "The desktop console needs PySide6 and qasync" in result.stderr
    assert "pip install 'recovery-console[gui]'" in result.stderr
    assert result.stdout == ""


def test_python_m_takes_the_gui_commands_options(tmp_path: Path) -> None:
    """The same path as `recovery-console gui`: its --profile option is accepted (then Qt is found missing)."""
    result = run_headless(tmp_path, "--profile", "prod")
    assert result.returncode == int(ExitCode.ERROR), result.stderr
    assert "Traceback" not in result.stderr and "pip install 'recovery-console[gui]'" in result.stderr
