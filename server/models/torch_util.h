// Small LibTorch helpers shared by the models: device selection, thread count, seeding, and the
// boundary where LibTorch's exceptions become absl::Status (STYLE.md §6).
#ifndef GDAQD_SERVER_MODELS_TORCH_UTIL_H_
#define GDAQD_SERVER_MODELS_TORCH_UTIL_H_

#include <torch/torch.h>

#include <new>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/models/errors.h"

namespace gdaqd::server::models {

// "auto" (CUDA when LibTorch sees a GPU, else CPU), "cpu" or "cuda". InvalidArgument for other
// names; FailedPrecondition for "cuda" without a GPU.
absl::StatusOr<torch::Device> SelectDevice(const std::string& name);

// Sets torch's intra-op threads (embedded mode shares the cores with workers; STYLE.md §8).
// threads <= 0 means 1: with Debian's LibTorch, OpenMP threads spin-waiting next to OpenBLAS's
// pthreads made training 10-30x slower on this project's 2-core machines (measured).
void SetTorchThreads(int threads);

// True for LibTorch's allocation failures: CUDA out of memory (c10::OutOfMemoryError) and the
// CPU allocator's "can't allocate memory" (a plain c10::Error in LibTorch 1.13).
bool IsTorchOutOfMemory(const c10::Error& e);

// Runs `fn` (returning absl::Status or StatusOr<T>) and turns what it throws into a status:
// allocation failures (std::bad_alloc, IsTorchOutOfMemory) into ResourceExhausted("out of memory
// while <what>: ..."), any other c10::Error or std::exception into InternalError("<what>:
// <message without backtrace>"). Nothing escapes.
template <typename Fn>
auto CallTorch(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const c10::Error& e) {
    if (IsTorchOutOfMemory(e)) return OutOfMemoryError(what, e.what_without_backtrace());
    return absl::InternalError(std::string(what) + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc& e) {
    return OutOfMemoryError(what, e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(std::string(what) + ": " + e.what());
  } catch (...) {
    return absl::InternalError(std::string(what) + ": unknown exception");
  }
}

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_TORCH_UTIL_H_
