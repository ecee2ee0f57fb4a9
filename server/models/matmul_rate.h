// What LibTorch's matmul reaches on this machine, for the coordinator's start-up log and for
// bench/imagination's roofline. Torch-free header.
#ifndef GDAQD_SERVER_MODELS_MATMUL_RATE_H_
#define GDAQD_SERVER_MODELS_MATMUL_RATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gdaqd::server::models {

// GFLOP/s of repeated float32 [m, k] x [k, n] products on `device` (auto | cpu | cuda), timed
// for about `duration` after one warm-up product, with LibTorch's intra-op threads set to
// `torch_threads` (a process-wide setting that stays; SetTorchThreads). With Debian's LibTorch this is the BLAS that
// libblas.so.3 resolves to: OpenBLAS gives ~150-170 GFLOP/s on 2 EPYC cores, the reference BLAS
// ~6. SelectDevice's errors; Internal if LibTorch fails.
absl::StatusOr<double> MeasureMatmulGflops(const std::string& device, int torch_threads = 1,
                                           int m = 256, int k = 512, int n = 512,
                                           absl::Duration duration = absl::Milliseconds(300));

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_MATMUL_RATE_H_
