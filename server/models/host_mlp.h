// Host (CPU) kernel of the policy forward in imagined rollouts: many small MLPs of one shape, each
// with its own flat parameter vector (docs/policy_layout.md) and one input row ("batch of one").
// That is memory-bound work: every weight is read once per row, so a batched matmul gains nothing
// over one pass per policy, and LibTorch's per-policy BLAS calls cost more than the arithmetic.
// This kernel reads each policy's flat vector in place (no copy, no repacking) and keeps a tile
// of outputs in vector registers while it streams the weights. Torch-free.
#ifndef GDAQD_SERVER_MODELS_HOST_MLP_H_
#define GDAQD_SERVER_MODELS_HOST_MLP_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::server::models {

// Element-wise activation of a layer; swish(x) = x * sigmoid(x) (jax.nn.swish, torch silu).
enum class Activation { kRelu, kTanh, kSwish, kIdentity };

// Parses "relu", "tanh", "swish" or "identity" (exact, lower case). InvalidArgument otherwise.
absl::StatusOr<Activation> ParseActivation(const std::string& name);

// For every row i with active[i] (all rows when `active` is empty):
//   y[i] = act_L(... act_0(x[i] @ W_0 + b_0) ...), with the weights read from params[i].
// sizes: layer widths [in, hidden..., out] (at least 2, each >= 1); params[i] points to one flat
// parameter vector of that shape (sum over layers of in * out + out floats, W [in, out] row-major
// then b); x [n, sizes.front()], y [n, sizes.back()] row-major with n = params.size();
// active: empty or [n]. Rows that are not active keep their y. Hidden layers use `hidden`, the
// last one `output`. Results agree with torch's (BatchedMlpForward) to float rounding: the sums
// run in input order, relu keeps NaN as torch does.
// Thread-safe (no shared state); sizes are the caller's precondition (not checked).
void HostMlpForward(absl::Span<const int> sizes, Activation hidden, Activation output,
                    absl::Span<const float* const> params, absl::Span<const float> x,
                    absl::Span<const uint8_t> active, absl::Span<float> y);

// Which instruction set HostMlpForward was resolved to on this CPU: "avx512f", "avx2" or
// "default" (for logs and the benchmark's header).
const char* HostMlpIsa();

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_HOST_MLP_H_
