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

# Waits (at most 60 s) for a line matching the extended regex $1 among the main grid's log lines
# after the first $2.
wait_log() {
  for _ in $(seq 120); do
    tail -n +"$(($2 + 1))" "$GDAQD_STUDY_STATE/main/run.log" 2> /dev/null | grep -Eq "$1" && return 0
    sleep 0.5
  done
  fail "no '$1' in the main grid's log within 60 s"
}
log_lines() { wc -l < "$GDAQD_STUDY_STATE/main/run.log"; }

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
grep -q "runs.csv: 1 of 63 runs finished" <<< "$now" || fail "status lacks runs.csv's count: $now"

# A schedule-arm run is submitted only together with its SYNCHRONOUS counterpart.
"$STUDY" start main -- --submit_only=ant_trap_gda_qd_pipelined_s0 "${SITTING[@]}" > /dev/null
wait_idle
grep -q "ant_trap_gda_qd_pipelined_s0: not submitted: a schedule-arm pair" \
  "$GDAQD_STUDY_STATE/main/run.log" || fail "an arm run was not held without its counterpart"
grep -q "pipelined_s0: submitted" "$GDAQD_STUDY_STATE/main/run.log" &&
  fail "an arm run was submitted without its counterpart"

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
mark="$(log_lines)"
"$STUDY" start main -- --submit_only=point_maze_map_elites_s1,point_maze_map_elites_s2 \
  "${LONG[@]}" > /dev/null
# (both under way, so that their checkpoints are past 0)
wait_log "s1 [1-9][0-9]*/100000000 evals.*s2 [1-9][0-9]*/100000000 evals" "$mark"
"$STUDY" start es -- --submit_only=point_maze_es_s1 "${LONG[@]}" > /dev/null
"$STUDY" stop nonsense > /dev/null 2>&1 && fail "stop accepted an unknown grid"
"$STUDY" stop es > /dev/null
now="$("$STUDY" status)"
grep -q "^es: not running" <<< "$now" || fail "stop es left the ES grid running: $now"
grep -q "^main: running" <<< "$now" || fail "stop es stopped the main grid too: $now"
"$STUDY" stop > /dev/null
grep -q "^main: not running" <<< "$("$STUDY" status)" || fail "stop left the main grid running"

# Each run's sittings.csv: the finished run's one sitting alone (copied with it by the ES grid),
# and the two stopped runs' sitting each with the other beside it.
runs="$GDAQD_STUDY_DOCS/study/runs"
sitting_re='^[0-9-]{10}T[0-9:]{8}Z,[0-9-]{10}T[0-9:]{8}Z'
[ "$(wc -l < "$runs/point_maze_map_elites_s0/sittings.csv")" -eq 2 ] &&
  grep -Eq "$sitting_re,0,200,\$" "$runs/point_maze_map_elites_s0/sittings.csv" ||
  fail "the finished run's sittings.csv: $(cat "$runs/point_maze_map_elites_s0/sittings.csv")"
cmp -s "$runs/point_maze_map_elites_s0/sittings.csv" "$es/point_maze_map_elites_s0/sittings.csv" ||
  fail "the ES grid's copy lacks the run's sittings"
grep -Eq "$sitting_re,0,[0-9]+,point_maze_map_elites_s2\$" \
  "$runs/point_maze_map_elites_s1/sittings.csv" ||
  fail "s1's sitting lacks s2 beside it: $(cat "$runs/point_maze_map_elites_s1/sittings.csv")"
grep -Eq "$sitting_re,0,[0-9]+,point_maze_map_elites_s1\$" \
  "$runs/point_maze_map_elites_s2/sittings.csv" || fail "s2's sitting lacks s1 beside it"
# A second sitting of the same two runs (restored from their checkpoints) adds a line after the
# first, starting from its checkpoint (not 0; the first's end is its last poll, which the
# checkpoint written at the stop may be before or after).
mark="$(log_lines)"
"$STUDY" start main -- --submit_only=point_maze_map_elites_s1 "${LONG[@]}" > /dev/null
wait_log "s1: re-attached" "$mark"
"$STUDY" stop main > /dev/null
s1="$runs/point_maze_map_elites_s1/sittings.csv"
[ "$(wc -l < "$s1")" -eq 3 ] || fail "the resumed run has not two sittings: $(cat "$s1")"
[ "$(sed -n 3p "$s1" | cut -d, -f3)" -gt 0 ] ||
  fail "the second sitting does not resume the first: $(cat "$s1")"
# A sitting whose grid has another budget for s1 does not follow the restored s1, and says so.
mark="$(log_lines)"
"$STUDY" start main -- --submit_only=point_maze_map_elites_s1 "${SITTING[@]}" > /dev/null
wait_log "s1: submitted" "$mark"
"$STUDY" stop main > /dev/null
grep -q "warning: exp-2 (point_maze_map_elites_s1) runs on the coordinator with another" \
  "$GDAQD_STUDY_STATE/main/run.log" || fail "no warning for the restored s1 of another budget"
echo "study_script_test: passed"
