#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every test with ctest
# (labels: unit, integration, fault, security, metrics, deploy, and as root multihost and
# dashboard, which skip with a message where network namespaces are not permitted), then the
# fuzzers (scripts/fuzz.sh). Extra arguments go to ctest only, e.g. scripts/test.sh -L unit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
install_missing_packages "${TEST_TOOL_PACKAGES[@]}"
build -DGDAQD_WERROR=ON
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
# A full run (no ctest arguments) also runs every libFuzzer target for a bounded time
# (clang + ASan/UBSan, its own build directory): config parsing and worker result validation.
if [ $# -eq 0 ]; then
  bash "$ROOT/scripts/fuzz.sh" "${GDAQD_FUZZ_SECONDS:-30}"
fi
