#!/usr/bin/env bash
# The whole test suite (README "Run the tests"; .ci/run runs exactly this): installs missing Debian
# packages, builds, and runs every CTest suite (unit, kernels, e2e, tools).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh test
bash tools/build.sh
cd build
ctest --output-on-failure --timeout 900
