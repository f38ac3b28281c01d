#!/usr/bin/env bash
# The walks (tests/walk) drive the console with real X input: Xvfb (xvfb), openbox as the window manager,
# xdotool for keys, clicks and window titles, xwininfo (x11-utils) for window geometry, and ImageMagick's
# `import` for the screenshots. Without them the walks skip, so CI installs them.
# Idempotent and non-interactive; needs root (or sudo) for apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(xvfb openbox xdotool x11-utils imagemagick)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 -print -quit 2>/dev/null)" ]; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
for tool in Xvfb openbox xdotool xwininfo import; do
  command -v "$tool" >/dev/null
done
echo "X walk tools ready: xdotool $(dpkg-query -W -f='${Version}' xdotool), openbox $(dpkg-query -W -f='${Version}' openbox)"
