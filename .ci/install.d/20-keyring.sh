#!/usr/bin/env bash
# The OS keyring tests (tests/integration/test_keyring.py) run against a REAL Secret Service:
# gnome-keyring-daemon on a private D-Bus session bus (tests/fixtures/keyring.py starts both).
#   - dbus (dbus-daemon, dbus-run-session), dbus-x11 (dbus-launch), gnome-keyring (the daemon),
#     libsecret-tools (secret-tool, handy for debugging the fixture's keyring by hand).
#   - PyPI keyrings.alt: test-only, provides the plaintext file backend the tests must see refused.
# Idempotent and non-interactive; safe to run again.
set -euo pipefail

PYTHON=${PYTHON:-python3}
PACKAGES=(dbus dbus-x11 gnome-keyring libsecret-tools)

source "$(dirname "$0")/../apt-missing.sh"
install_missing "${PACKAGES[@]}"

# Test-only dependency (not a runtime one): the plaintext backend the tests must see refused.
if ! "$PYTHON" -c "import keyrings.alt.file" 2>/dev/null; then
  "$PYTHON" -m pip install --quiet "keyrings.alt>=5"
fi

command -v dbus-daemon >/dev/null
command -v gnome-keyring-daemon >/dev/null
echo "keyring test dependencies ready: $(gnome-keyring-daemon --version 2>/dev/null | sed -n 1p)"
