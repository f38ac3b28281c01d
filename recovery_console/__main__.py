"""`python -m recovery_console` opens the desktop console."""

import sys

from recovery_console.ui.app import run

if __name__ == "__main__":
    sys.exit(run())
