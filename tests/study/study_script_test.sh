#!/usr/bin/env bash
# scripts/study.sh against real processes: the main grid's first run at a tiny budget through
# bench_reproduce, a coordinator and workers on loopback; then the ES grid, which must copy that
# MAP-Elites run from the main grid (--reuse_from) and run only its own ES run. Everything lives in
# a temporary folder; no traffic leaves 127.0.0.1.
#   study_script_test.sh ROOT BUILD_DIR
set -euo pipefail
ROOT="$1"
export GDAQD_BUILD_DIR="$2"
TMP="$(mktemp -d)"
export GDAQD_STUDY_DOCS="$TMP/docs" GDAQD_STUDY_STATE="$TMP/state"
STUDY="$ROOT/scripts/study.sh"
cleanup() { "$STUDY" stop > /dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for log in "$TMP"/state/*/run.log; do echo "== $log"; cat "$log"; done >&2; exit 1; }
SITTING=(--budgets=point_maze=200,ant_trap=200,ant_maze=200 --progress_every=1s)

# Waits (at most 120 s) until no grid of this test runs.
wait_idle() {
  for _ in $(seq 240); do
    # (captured first: grep -q would end the pipe early, and pipefail would call that idle)
    local now
    now="$("$STUDY" status)"
    grep -q ": running" <<< "$now" || return 0
    sleep 0.5
  done
  fail "a grid still runs after 120 s"
}

started="$("$STUDY" start main -- --submit_only=point_maze_map_elites_s0 "${SITTING[@]}")"
grep -q "main: started" <<< "$started" || fail "start main: $started"
wait_idle
run="$GDAQD_STUDY_DOCS/study/runs/point_maze_map_elites_s0"
grep -q "state: SUCCEEDED" "$run/status.textproto" || fail "main grid run did not succeed"
grep -q "^point_maze_map_elites_s0,.*,SUCCEEDED,200," "$GDAQD_STUDY_DOCS/study/runs.csv" ||
  fail "runs.csv lacks the finished run"
[ "$(grep -c ",NOT_SUBMITTED," "$GDAQD_STUDY_DOCS/study/runs.csv")" -eq 62 ] ||
  fail "the grid is not the protocol's 63 runs with one submitted"
[ -f "$GDAQD_STUDY_STATE/main/state/LOCK" ] || fail "checkpoints are not under GDAQD_STUDY_STATE"
now="$("$STUDY" status)"
grep -q "1/63 runs finished" <<< "$now" || fail "status lacks the progress line: $now"

"$STUDY" start es -- --submit_only=point_maze_es_s0 "${SITTING[@]}" > /dev/null
wait_idle
es="$GDAQD_STUDY_DOCS/study-es/runs"
grep -q "state: SUCCEEDED" "$es/point_maze_es_s0/status.textproto" || fail "ES run did not succeed"
grep -q "study/runs/point_maze_map_elites_s0" "$es/point_maze_map_elites_s0/reused_from.txt" ||
  fail "ES grid did not copy MAP-Elites from the main grid"
cmp -s "$run/archive.csv" "$es/point_maze_map_elites_s0/archive.csv" || fail "copy differs"
grep -q "point_maze_map_elites_s1: waits for" "$GDAQD_STUDY_STATE/es/run.log" ||
  fail "ES grid does not say which MAP-Elites runs wait for the main grid"
if grep map_elites "$GDAQD_STUDY_STATE/es/run.log" | grep -q "submitted as"; then
  fail "ES grid submitted a MAP-Elites run"
fi

"$STUDY" start nonsense > /dev/null 2>&1 && fail "an unknown grid was accepted"

# `stop GRID` stops that grid only. Two runs at a budget they cannot finish in this test.
LONG=(--budgets=point_maze=100000000,ant_trap=200,ant_maze=200 --progress_every=1s)
"$STUDY" start main -- --submit_only=point_maze_map_elites_s1 "${LONG[@]}" > /dev/null
"$STUDY" start es -- --submit_only=point_maze_es_s1 "${LONG[@]}" > /dev/null
"$STUDY" stop nonsense > /dev/null 2>&1 && fail "stop accepted an unknown grid"
"$STUDY" stop es > /dev/null
now="$("$STUDY" status)"
grep -q "^es: not running" <<< "$now" || fail "stop es left the ES grid running: $now"
grep -q "^main: running" <<< "$now" || fail "stop es stopped the main grid too: $now"
"$STUDY" stop > /dev/null
grep -q "^main: not running" <<< "$("$STUDY" status)" || fail "stop left the main grid running"
echo "study_script_test: passed"
