#!/usr/bin/env bash
# SMB3 target tests: Samba's smbd (a real server started by tests/fixtures/smb.py), smbpasswd,
# and the `smbclient` CLI used to write files out-of-band. Idempotent and non-interactive.
set -euo pipefail
need=()
command -v smbd >/dev/null 2>&1 || [ -x /usr/sbin/smbd ] || need+=(samba)
command -v smbclient >/dev/null 2>&1 || need+=(smbclient)
command -v useradd >/dev/null 2>&1 || [ -x /usr/sbin/useradd ] || need+=(passwd)
if [ "${#need[@]}" -eq 0 ]; then
  echo "smb: samba and smbclient already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once, only when they are missing or no candidate is known.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ] \
   || ! apt-cache show samba >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts system-wide daemons where a service manager exists; tests run their
# own smbd on a private port and config, so the system ones are not needed.
echo "smb: installed ${need[*]}"
