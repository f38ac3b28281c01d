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

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when they are absent or older than a day.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 -print -quit 2>/dev/null)" ]; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test-only dependency (not a runtime one): the plaintext backend the tests must see refused.
if ! "$PYTHON" -c "import keyrings.alt.file" 2>/dev/null; then
  "$PYTHON" -m pip install --quiet "keyrings.alt>=5"
fi

command -v dbus-daemon >/dev/null
command -v gnome-keyring-daemon >/dev/null
echo "keyring test dependencies ready: $(gnome-keyring-daemon --version 2>/dev/null | sed -n 1p)"
