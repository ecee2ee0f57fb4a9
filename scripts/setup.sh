#!/usr/bin/env bash
# Installs the Debian 12 packages gdaqd needs (only those missing) and builds it.
# Sourced by scripts/run.sh and scripts/test.sh; usable alone: scripts/setup.sh [cmake args...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${GDAQD_BUILD_DIR:-$ROOT/build}"

# DESIGN.md §7. Everything comes from Debian 12's own archive.
PACKAGES=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libeigen3-dev libgoogle-glog-dev
  libmujoco-dev libqhull-dev libmujoco-samples
  libtorch-dev libopenblas0-pthread
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librsvg2-bin
  libssl-dev openssl
  # the Python client (docs/python.md), its pytest suite, and matplotlib for its example
  python3-grpcio python3-protobuf python3-numpy python3-pandas python3-pytest python3-matplotlib
)
# What the cluster tests run besides the build (labels deploy, multihost, dashboard; installed by
# scripts/test.sh): Prometheus and promtool, headless Chromium, docker-compose's config check,
# yamllint, iproute2 for the network namespaces, curl.
TEST_TOOL_PACKAGES=(
  prometheus chromium docker-compose yamllint python3-yaml iproute2 curl
)

# Installs PACKAGES and any package names given as arguments that are missing.
install_missing_packages() {
  local missing=()
  for pkg in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" > "$BUILD_DIR.cmake.log" 2>&1 ||
    { cat "$BUILD_DIR.cmake.log"; return 1; }
  cmake --build "$BUILD_DIR" -j"$(nproc)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  install_missing_packages
  build "$@"
fi
