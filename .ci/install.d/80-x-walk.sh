#!/usr/bin/env bash
# The walks (tests/walk) drive the console with real X input: Xvfb (xvfb), openbox as the window manager,
# xdotool for keys, clicks and window titles, xwininfo (x11-utils) for window geometry, and ImageMagick's
# `import` for the screenshots. Without them the walks skip, so CI installs them.
# Idempotent and non-interactive; needs root (or sudo) for apt.
set -euo pipefail
PACKAGES=(xvfb openbox xdotool x11-utils imagemagick)

source "$(dirname "$0")/../apt-missing.sh"
install_missing "${PACKAGES[@]}"
for tool in Xvfb openbox xdotool xwininfo import; do
  command -v "$tool" >/dev/null
done
echo "X walk tools ready: xdotool $(dpkg-query -W -f='${Version}' xdotool), openbox $(dpkg-query -W -f='${Version}' openbox)"
