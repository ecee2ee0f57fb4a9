#!/usr/bin/env bash
# The reproduction study's three grids (docs/reproduction/protocol.md) as one sitting runs them:
#
#   scripts/study.sh start [main|es|rl ...] [-- bench_reproduce flags for this sitting]
#   scripts/study.sh stop [main|es|rl ...]   # SIGTERM: the coordinators checkpoint unfinished runs
#   scripts/study.sh status                  # runs finished, and each grid's last progress line
#
# Each grid gets the same grid-defining flags at every sitting (runs.csv and the report cover
# exactly that grid; docs/benchmarks.md), its own bench_reproduce, coordinator and 2 workers,
# niced to 15 so that builds and tests beside it keep their speed. Flags after `--` shape this
# sitting only (e.g. --submit_only=ant_trap_map_elites) and go to every grid started.
#
# Environment:
#   GDAQD_BUILD_DIR    the build whose bench_reproduce runs (default <repo>/build). Build the
#                      study from its own clone if you rebuild this tree while it runs.
#   GDAQD_STUDY_DOCS   where the grids' folders are, relative to this repo (every grid runs in
#                      it) or absolute; default docs/reproduction. Finished runs land in
#                      <docs>/study*/runs/, to be committed.
#   GDAQD_STUDY_STATE  the coordinators' checkpoints and logs (default ~/.local/state/gdaqd-study),
#                      outside the source tree so that a new checkout keeps unfinished runs; a
#                      sitting on another machine starts them over.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${GDAQD_BUILD_DIR:-$ROOT/build}"
# Relative to ROOT by default, so that what the grids write (runs.csv, reports) names no folder
# of this machine.
DOCS="${GDAQD_STUDY_DOCS:-docs/reproduction}"
STATE="${GDAQD_STUDY_STATE:-$HOME/.local/state/gdaqd-study}"
BENCH="$BUILD_DIR/bench/bench_reproduce"

# The grid-defining flags of each grid (the protocol, addenda 1 and 2).
grid_flags() {
  case "$1" in
    main) echo "--out $DOCS/study" ;;
    es) echo "--out $DOCS/study-es --algorithms=MAP_ELITES,ES,NS_ES,NSR_ES,NSRA_ES,ME_ES --arms=" \
             "--reuse_from=$DOCS/study --reuse_algorithms=MAP_ELITES" ;;
    rl) echo "--out $DOCS/study-rl --algorithms=TD3,SAC,DIAYN,SMERL --seeds=0,1,2 --arms=" \
             "--qd_reference_grids=$DOCS/study,$DOCS/study-es" ;;
    *) echo "unknown grid '$1' (main, es, rl)" >&2; return 2 ;;
  esac
}

# The pid of the grid's running bench_reproduce, if any.
grid_pid() { pgrep -f -- "bench_reproduce --out $DOCS/$(grid_dir "$1")( |$)" | head -1 || true; }
grid_dir() { case "$1" in main) echo study ;; es) echo study-es ;; rl) echo study-rl ;; esac; }

start() {
  local grids=() extra=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
    grids+=("$1"); shift
  done
  [ ${#grids[@]} -eq 0 ] && grids=(main es rl)
  [ -x "$BENCH" ] || { echo "no $BENCH: build first (scripts/setup.sh)" >&2; exit 1; }
  for grid in "${grids[@]}"; do
    local flags
    flags="$(grid_flags "$grid")" || exit 2
    if [ -n "$(grid_pid "$grid")" ]; then
      echo "$grid: already running (pid $(grid_pid "$grid"))"
      continue
    fi
    mkdir -p "$STATE/$grid"
    # shellcheck disable=SC2086  # the grid's flags are words by design
    nohup nice -n 15 "$BENCH" $flags --state_dir="$STATE/$grid/state" "${extra[@]}" \
      >> "$STATE/$grid/run.log" 2>&1 &
    echo "$grid: started (pid $!), log $STATE/$grid/run.log, checkpoints $STATE/$grid/state"
  done
}

stop() {
  local pids=() grids=("$@")
  [ ${#grids[@]} -eq 0 ] && grids=(main es rl)
  for grid in "${grids[@]}"; do grid_flags "$grid" > /dev/null || exit 2; done  # all, first
  for grid in "${grids[@]}"; do
    local pid
    pid="$(grid_pid "$grid")"
    [ -n "$pid" ] && { kill -TERM "$pid"; pids+=("$pid"); echo "$grid: stopping (pid $pid)"; }
  done
  # The coordinators checkpoint on SIGTERM; bench_reproduce exits once they have.
  for pid in "${pids[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 2; done
    kill -0 "$pid" 2>/dev/null && echo "pid $pid still running after 5 minutes" >&2
  done
  return 0
}

status() {
  for grid in main es rl; do
    local pid log="$STATE/$grid/run.log"
    pid="$(grid_pid "$grid")"
    if [ -n "$pid" ]; then echo "$grid: running (pid $pid)"; else echo "$grid: not running"; fi
    local csv="$DOCS/$(grid_dir "$grid")/runs.csv"
    if [ -f "$csv" ]; then
      local finished planned
      finished="$(grep -c ',SUCCEEDED,' "$csv" || true)"
      planned=$(($(wc -l < "$csv") - 1))
      echo "  runs.csv: $finished of $planned runs finished"
    fi
    if [ -f "$log" ]; then
      { grep -v '^|' "$log" | grep 'runs finished' || true; } | tail -1 | sed 's/^/  /'
    fi
  done
  return 0
}

cd "$ROOT"
case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) status ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
