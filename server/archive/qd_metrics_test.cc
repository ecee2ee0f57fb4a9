#include "server/archive/qd_metrics.h"

#include <cmath>
#include <limits>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "server/archive/grid_archive.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

constexpr double kTolerance = 1e-9;

// 10 cells over [0, 10], 1 param: cell k holds descriptors [k, k+1).
std::unique_ptr<ArchiveInterface> MakeArchive() {
  auto archive =
      GridArchive::Create({.low = {0.0f}, .high = {10.0f}, .cells_per_dim = {10}, .num_params = 1});
  EXPECT_THAT(archive, ::gdaqd::testing::IsOk());
  return *std::move(archive);
}

// Fills cells 1, 4 and 7 with fitnesses -2, 3 and 5.5.
std::unique_ptr<ArchiveInterface> MakeFilledArchive() {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_THAT(archive->Insert({1.5f}, -2.0f, {0.0f}), ::gdaqd::testing::IsOk());
  EXPECT_THAT(archive->Insert({4.5f}, 3.0f, {0.0f}), ::gdaqd::testing::IsOk());
  EXPECT_THAT(archive->Insert({7.5f}, 5.5f, {0.0f}), ::gdaqd::testing::IsOk());
  return archive;
}

TEST(QdMetricsTest, FilledArchiveWithOffset) {
  const QdMetrics metrics = ComputeQdMetrics(*MakeFilledArchive(), /*qd_offset=*/10.0);
  EXPECT_EQ(metrics.num_filled, 3);
  EXPECT_NEAR(metrics.coverage_pct, 30.0, kTolerance);
  // (-2 + 10) + (3 + 10) + (5.5 + 10) = 36.5; 36.5 / (10 cells x 10) x 100 = 36.5 %.
  EXPECT_NEAR(metrics.qd_score, 36.5, kTolerance);
  EXPECT_NEAR(metrics.qd_score_pct, 36.5, kTolerance);
  EXPECT_EQ(metrics.max_fitness, 5.5);
}

TEST(QdMetricsTest, ZeroOffsetGivesZeroScorePct) {
  const QdMetrics metrics = ComputeQdMetrics(*MakeFilledArchive(), /*qd_offset=*/0.0);
  EXPECT_NEAR(metrics.qd_score, 6.5, kTolerance);
  EXPECT_EQ(metrics.qd_score_pct, 0.0);
}

TEST(QdMetricsTest, EmptyArchive) {
  const QdMetrics metrics = ComputeQdMetrics(*MakeArchive(), /*qd_offset=*/10.0);
  EXPECT_EQ(metrics.num_filled, 0);
  EXPECT_EQ(metrics.coverage_pct, 0.0);
  EXPECT_EQ(metrics.qd_score, 0.0);
  EXPECT_EQ(metrics.qd_score_pct, 0.0);
  EXPECT_EQ(metrics.max_fitness, -std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace gdaqd::server
