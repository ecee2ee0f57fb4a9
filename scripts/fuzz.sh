#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, ASan and UBSan in their own build directory
# and runs each one for a bounded time from its seed corpus. Fails if any fuzzer finds a crash,
# a sanitizer report, a leak, a slow input or an allocation beyond the memory limit.
#
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 60; CI calls it with 30)
# Environment: GDAQD_FUZZ_BUILD_DIR (default <repo>/build-fuzz), GDAQD_FUZZ_JOBS (build jobs,
# default nproc).
#
# Only the fuzz targets are built (not the rest of the tree, and never LibTorch code). Inputs that
# add coverage accumulate in $BUILD/fuzz-corpus/<target>/ and are reused by the next run; findings
# go to $BUILD/fuzz-artifacts/<target>/ (crash-*, leak-*, oom-*, slow-unit-*, timeout-*).
# Reproduce one with: $BUILD/fuzz/<target> <artifact>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${GDAQD_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
DURATION="${1:-60}"
JOBS="${GDAQD_FUZZ_JOBS:-$(nproc)}"
# Per-target limits: memory (MB) any input may use, and seconds per input.
RSS_LIMIT_MB=2048
INPUT_TIMEOUT_S=25

if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 1 ]; then
  echo "usage: $0 [seconds-per-target >= 1]" >&2
  exit 2
fi

# The packages of scripts/setup.sh (a full configure needs them) plus clang and its runtimes.
source "$ROOT/scripts/setup.sh"
PACKAGES+=(clang libclang-rt-14-dev)
install_missing_packages

start=$(date +%s)
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
mkdir -p "$BUILD"
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DGDAQD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGDAQD_BUILD_TESTS=OFF -DGDAQD_BUILD_BENCH=OFF "${launcher[@]}" > "$BUILD/cmake.log" 2>&1 ||
  { cat "$BUILD/cmake.log"; exit 1; }

targets=(config_fuzzer)
[ -f "$ROOT/fuzz/result_fuzzer.cc" ] && targets+=(result_fuzzer)
cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"
built=$(date +%s)

# Longest input per target, in bytes.
max_len() {
  case "$1" in
    config_fuzzer) echo 8192 ;;   # configs are ~1 KB; room for long strings and lists
    result_fuzzer) echo 65536 ;;  # results carry transition chunks
    *) echo 4096 ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for target in "${targets[@]}"; do
  corpus="$BUILD/fuzz-corpus/$target"
  artifacts="$BUILD/fuzz-artifacts/$target"
  mkdir -p "$corpus" "$artifacts" "$ROOT/fuzz/corpus/$target"
  seeds=("$ROOT/fuzz/corpus/$target")
  [ "$target" = config_fuzzer ] && seeds+=("$ROOT/examples")
  options=(-max_total_time="$DURATION" -max_len="$(max_len "$target")"
           -rss_limit_mb="$RSS_LIMIT_MB" -malloc_limit_mb="$RSS_LIMIT_MB"
           -timeout="$INPUT_TIMEOUT_S" -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "$ROOT/fuzz/$target.dict" ] && options+=(-dict="$ROOT/fuzz/$target.dict")
  echo "=== $target: ${DURATION}s, corpus $corpus, seeds ${seeds[*]}"
  if ! "$BUILD/fuzz/$target" "${options[@]}" "$corpus" "${seeds[@]}" \
      > "$BUILD/fuzz-$target.log" 2>&1; then
    failed+=("$target")
    tail -n 60 "$BUILD/fuzz-$target.log"
    echo "=== $target FAILED; artifacts in $artifacts, full log $BUILD/fuzz-$target.log"
  else
    grep -E "^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)" \
      "$BUILD/fuzz-$target.log" || true
    echo "=== $target passed"
  fi
done

end=$(date +%s)
echo "fuzz.sh: build $((built - start)) s, fuzzing $((end - built)) s, total $((end - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
