#include "server/models/torch_util.h"

namespace gdaqd::server::models {

absl::StatusOr<torch::Device> SelectDevice(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      return absl::FailedPreconditionError("device 'cuda' requested but LibTorch sees no GPU");
    }
    return torch::Device(torch::kCUDA);
  }
  if (name == "auto" || name.empty()) {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  }
  return absl::InvalidArgumentError("device must be auto, cpu or cuda, got '" + name + "'");
}

void SetTorchThreads(int threads) {
  torch::set_num_threads(threads > 0 ? threads : 1);
}

}  // namespace gdaqd::server::models
