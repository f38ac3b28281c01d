"""`python -m recovery_console` opens the desktop console: the same path as `recovery-console gui`.

So a headless install (no `gui` extra, no Qt) gets the same one-line explanation of what to
install, not a traceback; and `--profile NAME` works here too.
"""

import sys

from recovery_console.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
