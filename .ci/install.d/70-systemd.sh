#!/usr/bin/env bash
# systemd-analyze (Debian package systemd): the schedule tests check generated timer and service units with
# `systemd-analyze verify` and compare `systemd-analyze calendar` next elapses with the console's own.
# Installing the package does not make systemd the init of a container; only the tool is used.
# Idempotent and non-interactive; needs root (or sudo) for apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v systemd-analyze >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 -print -quit 2>/dev/null)" ]; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends systemd
fi
echo "systemd tools ready: $(systemd-analyze --version | head -n 1)"
