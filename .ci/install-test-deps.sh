#!/usr/bin/env bash
# Installs everything the test suite needs on a bare Debian machine: the Python package with its
# test extra (within constraints.txt), then each component's system packages and servers
# (.ci/install.d/*.sh, in order).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install --quiet --upgrade pip
"$PYTHON" -m pip install --quiet --constraint constraints.txt -e '.[test]'
if compgen -G ".ci/install.d/*.sh" > /dev/null; then
  for script in .ci/install.d/*.sh; do
    echo "== $script"
    bash "$script"
  done
fi
