#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every test with ctest
# (labels: unit, integration). Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
install_missing_packages
build -DGDAQD_WERROR=ON
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
