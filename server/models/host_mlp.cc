#include "server/models/host_mlp.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

// One clone per instruction set, picked at load time (GCC function multi-versioning): the build
// targets baseline x86-64, the machines that run imagination have AVX2 or AVX-512.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GDAQD_HOST_MLP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GDAQD_HOST_MLP_CLONES
#endif
#define GDAQD_HOST_MLP_INLINE inline __attribute__((always_inline))

namespace gdaqd::server::models {

absl::StatusOr<Activation> ParseActivation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "tanh") return Activation::kTanh;
  if (name == "swish") return Activation::kSwish;
  if (name == "identity") return Activation::kIdentity;
  return absl::InvalidArgumentError(
      absl::StrCat("activation must be relu, tanh, swish or identity, got '", name, "'"));
}

namespace host_mlp_internal {

// y[0, N) = b[0, N) + sum_i x[i] * w[i * stride + (0, N)]: N outputs held in registers while the
// rows of W stream past (a GCC vector of N floats is split into the machine's registers).
template <int N>
GDAQD_HOST_MLP_INLINE void DenseTile(const float* x, int in, const float* w, int stride,
                                     const float* b, float* y) {
  typedef float Vec __attribute__((vector_size(N * sizeof(float))));
  Vec acc;
  std::memcpy(&acc, b, sizeof(Vec));
  for (int i = 0; i < in; ++i) {
    Vec row;
    std::memcpy(&row, w + static_cast<std::ptrdiff_t>(i) * stride, sizeof(Vec));
    acc += x[i] * row;
  }
  std::memcpy(y, &acc, sizeof(Vec));
}

GDAQD_HOST_MLP_INLINE void Dense(const float* x, int in, const float* w, int out, const float* b,
                                 float* y) {
  int o = 0;
  for (; o + 64 <= out; o += 64) DenseTile<64>(x, in, w + o, out, b + o, y + o);
  for (; o + 16 <= out; o += 16) DenseTile<16>(x, in, w + o, out, b + o, y + o);
  for (; o + 8 <= out; o += 8) DenseTile<8>(x, in, w + o, out, b + o, y + o);
  for (; o + 4 <= out; o += 4) DenseTile<4>(x, in, w + o, out, b + o, y + o);
  for (; o < out; ++o) {
    float acc = b[o];
    for (int i = 0; i < in; ++i) acc += x[i] * w[static_cast<std::ptrdiff_t>(i) * out + o];
    y[o] = acc;
  }
}

GDAQD_HOST_MLP_INLINE void Activate(Activation activation, float* y, int n) {
  switch (activation) {
    case Activation::kRelu:
      for (int k = 0; k < n; ++k) y[k] = y[k] < 0.0f ? 0.0f : y[k];  // NaN stays NaN, as torch
      break;
    case Activation::kTanh:
      for (int k = 0; k < n; ++k) y[k] = std::tanh(y[k]);
      break;
    case Activation::kSwish:
      for (int k = 0; k < n; ++k) y[k] = y[k] / (1.0f + std::exp(-y[k]));
      break;
    case Activation::kIdentity:
      break;
  }
}

// The whole batch in one function, so that one clone holds every inlined layer.
GDAQD_HOST_MLP_CLONES void ForwardAll(const int* sizes, int num_sizes, Activation hidden,
                                      Activation output, const float* const* params, int64_t n,
                                      const float* x, const uint8_t* active, float* y,
                                      float* scratch, int64_t width) {
  const int in0 = sizes[0];
  const int out_last = sizes[num_sizes - 1];
  for (int64_t r = 0; r < n; ++r) {
    if (active != nullptr && !active[r]) continue;
    const float* p = params[r];
    const float* h = x + r * in0;
    float* bufs[2] = {scratch, scratch + width};
    for (int l = 0; l + 1 < num_sizes; ++l) {
      const int in = sizes[l], out = sizes[l + 1];
      const bool last = l + 2 == num_sizes;
      float* dst = last ? y + r * out_last : bufs[l % 2];
      Dense(h, in, p, out, p + static_cast<std::ptrdiff_t>(in) * out, dst);
      Activate(last ? output : hidden, dst, out);
      p += static_cast<std::ptrdiff_t>(in) * out + out;
      h = dst;
    }
  }
}

}  // namespace host_mlp_internal

void HostMlpForward(absl::Span<const int> sizes, Activation hidden, Activation output,
                    absl::Span<const float* const> params, absl::Span<const float> x,
                    absl::Span<const uint8_t> active, absl::Span<float> y) {
  const int64_t width = *std::max_element(sizes.begin(), sizes.end());
  std::vector<float> scratch(2 * width);
  host_mlp_internal::ForwardAll(sizes.data(), static_cast<int>(sizes.size()), hidden, output,
                                params.data(), static_cast<int64_t>(params.size()), x.data(),
                                active.empty() ? nullptr : active.data(), y.data(), scratch.data(),
                                width);
}

const char* HostMlpIsa() {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
  return "default";
}

}  // namespace gdaqd::server::models
