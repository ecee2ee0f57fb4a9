// Transition rows (common/rollout.h's [obs, action, reward, next_obs, done, truncated], float32,
// row-major) on their way into a learner: copied to the learner's device and split into columns.
// Shared by Td3 and Sac. Thread-compatible (pure functions of their arguments).
#ifndef GDAQD_SERVER_MODELS_TRANSITION_ROWS_H_
#define GDAQD_SERVER_MODELS_TRANSITION_ROWS_H_

#include <torch/torch.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::server::models {

// The six columns of a [B, width] batch of transition rows, each [B, columns], contiguous.
struct TransitionColumns {
  torch::Tensor obs, actions, rewards, next_obs, dones, truncations;
};

// Splits `rows` ([B, >= 2 * obs_dim + action_dim + 3]) into its first six columns; extra
// columns after them are the caller's.
TransitionColumns SplitTransitionColumns(const torch::Tensor& rows, int64_t obs_dim,
                                         int64_t action_dim);

// Copies n rows of `width` floats to `device` as an [n, width] tensor that does not alias `rows`.
// InvalidArgument("<what>: got F floats, expected n rows of width") on a size mismatch;
// Internal / ResourceExhausted for LibTorch failures (CallTorch).
absl::StatusOr<torch::Tensor> TransitionRowsToDevice(absl::Span<const float> rows, int64_t n,
                                                     int64_t width, torch::Device device,
                                                     const char* what);

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_TRANSITION_ROWS_H_
