#!/usr/bin/env bash
# SFTP tests: a real OpenSSH sshd (started by tests/fixtures/sftp.py on a loopback port) and
# ssh-keygen for host/user keys. Idempotent and non-interactive; needs root (or sudo) for apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -E"
fi

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen > /dev/null 2>&1 || need+=(openssh-client)
# useradd/chpasswd (the fixture creates its test users once) come with passwd, normally present.
command -v chpasswd > /dev/null 2>&1 || need+=(passwd)

if [ "${#need[@]}" -gt 0 ]; then
  # Update the package lists once: when they were never fetched, or (below) when they are stale.
  updated=0
  if ! compgen -G "/var/lib/apt/lists/*_Packages*" > /dev/null; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
    updated=1
  fi
  # policy-rc.d: do not let the package start a system-wide sshd on port 22 (containers, CI).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  if ! $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"; then
    [ "$updated" -eq 0 ] || exit 1
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
  fi
fi

# sshd refuses to start without its privilege-separation directory.
$SUDO mkdir -p /run/sshd
$SUDO chmod 0755 /run/sshd
/usr/sbin/sshd -V 2>&1 | sed -n 1p || true
