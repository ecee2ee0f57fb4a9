#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the embedded local default (a
# coordinator and 2 worker processes on loopback) on CONFIG, default
# examples/point_maze_gda_qd.textproto (GDA-QD on PointMaze). Extra arguments go to `gdaqd run` (e.g. --out DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
install_missing_packages
echo "building (first time: a few minutes)..."
build > "$BUILD_DIR.build.log" 2>&1 || { tail -50 "$BUILD_DIR.build.log"; exit 1; }
CONFIG="${1:-$ROOT/examples/point_maze_gda_qd.textproto}"
[ $# -gt 0 ] && shift
cd "$ROOT"
exec "$BUILD_DIR/client/gdaqd" run "$CONFIG" "$@"
