#!/usr/bin/env bash
# Downloads every wheel Recovery Console needs at run time, and builds its own, into one folder, so
# that a machine without network access installs it with
#
#   python3 -m venv rc && rc/bin/pip install --no-index --find-links wheelhouse 'recovery-console[gui]'
#
# (without `[gui]` the same wheelhouse installs the headless console: CLI only, no Qt).
#
# The wheels fit THIS platform and THIS Python (e.g. cp311, manylinux x86_64): build the wheelhouse
# with the same Python minor version and architecture as the offline machine (see docs/AIRGAPPED.md).
# Dependencies published only as source are built into wheels here, so the offline install never
# compiles anything. The folder gets a SHA256SUMS of its wheels.
#
# Usage: packaging/wheelhouse.sh [--dir DIR]     (default: ./wheelhouse)
# Environment: PYTHON, the interpreter to build for (default: python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
# A path such as .venv/bin/python is made absolute: the build runs it from other folders.
case $PYTHON in
  */*) PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON") ;;
esac
WHEELHOUSE=$ROOT/wheelhouse

while (($#)); do
  case "$1" in
    --dir) WHEELHOUSE=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "wheelhouse.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$WHEELHOUSE"
WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)

# Build from a copy of the sources: building in place would leave build/ and *.egg-info in the tree.
src_root=$(mktemp -d)
trap 'rm -rf "$src_root"' EXIT
src=$src_root/recovery-console
mkdir -p "$src"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$src/"
for extra in LICENSE LICENSE.txt setup.cfg MANIFEST.in; do
  if [ -f "$ROOT/$extra" ]; then cp "$ROOT/$extra" "$src/"; fi
done
tar -C "$ROOT" --exclude='__pycache__' --exclude='*.py[co]' -cf - recovery_console | tar -C "$src" -xf -

# One build of the console in the folder: replace earlier ones.
rm -f "$WHEELHOUSE"/recovery_console-*.whl
"$PYTHON" -m pip wheel --disable-pip-version-check --quiet --constraint "$ROOT/constraints.txt" \
  --wheel-dir "$WHEELHOUSE" "$src[gui]"

(cd "$WHEELHOUSE" && rm -f SHA256SUMS && sha256sum -- *.whl > SHA256SUMS)
count=$(find "$WHEELHOUSE" -maxdepth 1 -name '*.whl' | wc -l)
echo "wheelhouse: $WHEELHOUSE ($count wheels, $(du -sh "$WHEELHOUSE" | cut -f1)) for $("$PYTHON" -c \
  'import platform, sysconfig; print(f"Python {platform.python_version()} on {sysconfig.get_platform()}")')"
