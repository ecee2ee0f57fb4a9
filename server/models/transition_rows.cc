#include "server/models/transition_rows.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {

TransitionColumns SplitTransitionColumns(const torch::Tensor& rows, int64_t obs_dim,
                                         int64_t action_dim) {
  const int64_t obs = obs_dim;
  const int64_t act = action_dim;
  auto column = [&](int64_t start, int64_t width) {
    return rows.narrow(1, start, width).contiguous();
  };
  TransitionColumns columns;
  columns.obs = column(0, obs);
  columns.actions = column(obs, act);
  columns.rewards = column(obs + act, 1);
  columns.next_obs = column(obs + act + 1, obs);
  columns.dones = column(2 * obs + act + 1, 1);
  columns.truncations = column(2 * obs + act + 2, 1);
  return columns;
}

absl::StatusOr<torch::Tensor> TransitionRowsToDevice(absl::Span<const float> rows, int64_t n,
                                                     int64_t width, torch::Device device,
                                                     const char* what) {
  if (static_cast<int64_t>(rows.size()) != n * width) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": got ", rows.size(), " floats, expected ", n, " rows of ", width));
  }
  return CallTorch("TransitionRowsToDevice", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::Tensor host = torch::from_blob(const_cast<float*>(rows.data()), {n, width},
                                          torch::TensorOptions().dtype(torch::kFloat32));
    return device.is_cpu() ? host.clone() : host.to(device);
  });
}

}  // namespace gdaqd::server::models
