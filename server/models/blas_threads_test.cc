// SetBlasThreads against the BLAS this process loads with LibTorch (OpenBLAS on the project's
// machines, DESIGN.md §7; other BLASes are reported as Unimplemented).
#include "server/models/blas_threads.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/models/matmul_rate.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;

TEST(BlasThreadsTest, RejectsFewerThanOne) {
  EXPECT_THAT(SetBlasThreads(0),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr(">= 1")));
}

TEST(BlasThreadsTest, SetsOpenBlasThreadsAndMatmulStillRuns) {
  // Loads LibTorch's BLAS (a matmul resolves libblas.so.3) before asking it.
  ASSERT_TRUE(MeasureMatmulGflops("cpu", 1, 64, 64, 64, absl::Milliseconds(10)).ok());
  absl::StatusOr<int> before = BlasThreads();
  if (absl::IsUnimplemented(before.status())) {
    GTEST_SKIP() << "not OpenBLAS: " << before.status();
  }
  ASSERT_TRUE(before.ok()) << before.status();
  GDAQD_ASSERT_OK(SetBlasThreads(1));
  EXPECT_EQ(*BlasThreads(), 1);
  absl::StatusOr<double> gflops =
      MeasureMatmulGflops("cpu", 1, 128, 128, 128, absl::Milliseconds(20));
  ASSERT_TRUE(gflops.ok()) << gflops.status();
  EXPECT_GT(*gflops, 0.0);
  GDAQD_ASSERT_OK(SetBlasThreads(*before));
  EXPECT_EQ(*BlasThreads(), *before);
}

}  // namespace
}  // namespace gdaqd::server::models
