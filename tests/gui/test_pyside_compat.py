"""The None-refcount guard: without it this PySide6 aborts the interpreter; with it, the console survives."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12+ has an immortal None")

CALLS = """
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
widget = QWidget()
for _ in range(200_000):
    widget.setEnabled(True)
print("survived")
"""


def run(prelude: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", prelude + CALLS], capture_output=True, text=True, env=env, timeout=120)


def test_importing_the_ui_protects_the_process():
    result = run("import recovery_console.ui\n")
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr


def test_the_guard_is_still_needed_with_this_pyside():
    """When this starts failing, PySide6 fixed its refcounting and the guard can go."""
    result = run("")
    assert result.returncode != 0 and "none_dealloc" in result.stderr
