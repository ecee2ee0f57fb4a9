#include "server/models/torch_util.h"

#include <string>

#include "absl/time/clock.h"
#include "server/models/matmul_rate.h"

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

bool IsTorchOutOfMemory(const c10::Error& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
  const std::string& message = e.msg();
  return message.find("can't allocate memory") != std::string::npos ||
         message.find("out of memory") != std::string::npos;
}

void SetTorchThreads(int threads) { torch::set_num_threads(threads > 0 ? threads : 1); }

}  // namespace gdaqd::server::models

namespace gdaqd::server::models {

absl::StatusOr<double> MeasureMatmulGflops(const std::string& device_name, int torch_threads, int m,
                                           int k, int n, absl::Duration duration) {
  absl::StatusOr<torch::Device> device = SelectDevice(device_name);
  if (!device.ok()) return device.status();
  SetTorchThreads(torch_threads);
  return CallTorch("MeasureMatmulGflops", [&]() -> absl::StatusOr<double> {
    c10::InferenceMode inference;
    const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(*device);
    const torch::Tensor a = torch::randn({m, k}, options);
    const torch::Tensor b = torch::randn({k, n}, options);
    torch::Tensor c = torch::matmul(a, b);  // warm-up (thread pools, allocator)
    if (device->is_cuda()) torch::cuda::synchronize();
    int64_t products = 0;
    const absl::Time start = absl::Now();
    absl::Duration elapsed;
    do {
      for (int i = 0; i < 8; ++i) c = torch::matmul(a, b);
      products += 8;
      if (device->is_cuda()) torch::cuda::synchronize();
      elapsed = absl::Now() - start;
    } while (elapsed < duration);
    return 2.0 * m * k * n * static_cast<double>(products) / absl::ToDoubleSeconds(elapsed) / 1e9;
  });
}

}  // namespace gdaqd::server::models
