// Small LibTorch helpers shared by the models: device selection, thread count, seeding, and the
// boundary where LibTorch's exceptions become absl::Status (STYLE.md §6).
#ifndef GDAQD_SERVER_MODELS_TORCH_UTIL_H_
#define GDAQD_SERVER_MODELS_TORCH_UTIL_H_

#include <string>
#include <utility>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gdaqd::server::models {

// "auto" (CUDA when LibTorch sees a GPU, else CPU), "cpu" or "cuda". InvalidArgument for other
// names; FailedPrecondition for "cuda" without a GPU.
absl::StatusOr<torch::Device> SelectDevice(const std::string& name);

// Sets torch's intra-op threads (embedded mode shares the cores with workers; STYLE.md §8).
// threads <= 0 means 1: with Debian's LibTorch, OpenMP threads spin-waiting next to OpenBLAS's
// pthreads made training 10-30x slower on this project's 2-core machines (measured).
void SetTorchThreads(int threads);

// Runs `fn` (returning absl::Status or StatusOr<T>) and turns any c10::Error or std::exception it
// throws into InternalError("<what>: <message without backtrace>").
template <typename Fn>
auto CallTorch(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const c10::Error& e) {
    return absl::InternalError(std::string(what) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return absl::InternalError(std::string(what) + ": " + e.what());
  }
}

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_TORCH_UTIL_H_
