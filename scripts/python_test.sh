#!/usr/bin/env bash
# Builds the medzip Python package (maturin, abi3 wheel) into a virtual
# environment and runs its tests (python/tests). Called by .ci/run; run it
# by hand the same way:  scripts/python_test.sh
#   MEDZIP_VENV  the virtual environment (default /var/tmp/medzip-venv)
#   MEDZIP_BIN   the CLI the tests compare bytes with (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/medzip-target}"
VENV="${MEDZIP_VENV:-/var/tmp/medzip-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "maturin>=1.5,<2" "numpy>=1.21" pytest \
  "dask[distributed]" pydicom pylibjpeg pylibjpeg-libjpeg numcodecs
WHEELS=$(mktemp -d)
trap 'rm -rf "$WHEELS"' EXIT
"$VENV/bin/maturin" build --release -q -o "$WHEELS"
"$VENV/bin/pip" install -q --force-reinstall --no-deps "$WHEELS"/medzip-*.whl
cargo build --release -q -p medzip
export MEDZIP_BIN="${MEDZIP_BIN:-$CARGO_TARGET_DIR/release/medzip}"
# (From another folder, so that the installed wheel is tested, not ./python.)
cd "$WHEELS" && "$VENV/bin/python" -m pytest -q "$OLDPWD/python/tests"
