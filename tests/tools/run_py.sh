#!/usr/bin/env bash
# Runs a Python test of tools/ with Debian's python3 (tools/install_deps.sh test installs torch, h5py,
# numpy there). Without them the test is reported SKIPPED (exit 77), never passed.
set -u
PY=/usr/bin/python3
if ! "$PY" -c "import torch, h5py, numpy" 2>/dev/null; then
  echo "SKIPPED: $PY lacks torch/h5py/numpy (run tools/install_deps.sh test)"
  exit 77
fi
exec "$PY" "$@"
