// The threads of the BLAS behind LibTorch (Debian's libtorch calls the system libblas.so.3).
// Torch-free header.
//
// OpenBLAS runs every large-enough matmul on its own pthreads and keeps them spinning for a
// while after each call. On a machine whose cores the coordinator shares with workers (the
// embedded `gdaqd run`, or bench/coordinator_capacity's fake workers) that spinning takes CPU
// from the rollouts; one BLAS thread avoids it at the cost of slower training of large models.
#ifndef GDAQD_SERVER_MODELS_BLAS_THREADS_H_
#define GDAQD_SERVER_MODELS_BLAS_THREADS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gdaqd::server::models {

// Sets the BLAS's thread count (process-wide). InvalidArgument if threads < 1; Unimplemented
// if the BLAS loaded has no openblas_set_num_threads (the reference BLAS is single-threaded).
absl::Status SetBlasThreads(int threads);

// The BLAS's thread count; Unimplemented as above.
absl::StatusOr<int> BlasThreads();

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_BLAS_THREADS_H_
