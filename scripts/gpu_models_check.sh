#!/usr/bin/env bash
# The CUDA check of server/models, in two halves:
#   scripts/gpu_models_check.sh stage   (here, Debian 12) copies Debian's abseil and GoogleTest
#                                       headers and static libraries into build-gpu-deps/
#   scripts/gpu_models_check.sh run     (on the GPU machine, with build-gpu-deps/ carried there)
#                                       builds server/models/standalone against the PyTorch
#                                       install's LibTorch and runs the model tests, the CUDA
#                                       ones included (they compare CUDA with CPU results).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/build-gpu-deps"
case "${1:-}" in
  stage)
    rm -rf "$DEPS" && mkdir -p "$DEPS/include" "$DEPS/lib"
    cp -r /usr/include/absl /usr/include/gtest /usr/include/gmock "$DEPS/include/"
    cp /usr/lib/x86_64-linux-gnu/libabsl_*.a /usr/lib/x86_64-linux-gnu/libg{test,mock}*.a "$DEPS/lib/"
    du -sh "$DEPS"
    ;;
  run)
    PREFIX="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
    BUILD="${GDAQD_MODELS_BUILD:-/tmp/gdaqd-models-build}"
    cmake -S "$ROOT/server/models/standalone" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_PREFIX_PATH="$PREFIX" -DGDAQD_DEPS="$DEPS" > "$BUILD.cmake.log" 2>&1 ||
      { tail -40 "$BUILD.cmake.log"; exit 1; }
    cmake --build "$BUILD" -j"$(nproc)"
    nvidia-smi --query-gpu=name --format=csv,noheader || true
    for t in replay_buffer_test dynamics_ensemble_test td3_critic_test; do
      "$BUILD/$t" --gtest_brief=1
    done
    ;;
  *) echo "usage: $0 stage|run" >&2; exit 2 ;;
esac
