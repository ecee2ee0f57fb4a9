#include "server/models/blas_threads.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace gdaqd::server::models {
namespace {

// OpenBLAS's own entry points, looked up at run time: libblas.so.3 may be any BLAS.
template <typename Fn>
Fn* FindBlasSymbol(const char* name) {
  return reinterpret_cast<Fn*>(dlsym(RTLD_DEFAULT, name));
}

absl::Status NotOpenBlas() {
  return absl::UnimplementedError(
      "the BLAS behind LibTorch has no openblas_set_num_threads (not OpenBLAS: its thread "
      "count cannot be set)");
}

}  // namespace

absl::Status SetBlasThreads(int threads) {
  if (threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("blas threads must be >= 1, got ", threads));
  }
  auto* set = FindBlasSymbol<void(int)>("openblas_set_num_threads");
  if (set == nullptr) return NotOpenBlas();
  set(threads);
  return absl::OkStatus();
}

absl::StatusOr<int> BlasThreads() {
  auto* get = FindBlasSymbol<int()>("openblas_get_num_threads");
  if (get == nullptr) return NotOpenBlas();
  return get();
}

}  // namespace gdaqd::server::models
