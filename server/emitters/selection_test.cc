#include "server/emitters/selection.h"

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "server/archive/grid_archive.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::AnyOf;
using ::testing::Each;
using ::testing::Eq;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kDraws = 50'000;
// Chi-square critical value for 4 degrees of freedom at p = 0.001.
constexpr double kChiSquareBound = 18.47;

// 10 cells over [0, 10], 1 param: cell k holds descriptors [k, k+1).
std::unique_ptr<ArchiveInterface> MakeArchive() {
  auto archive =
      GridArchive::Create({.low = {0.0f}, .high = {10.0f}, .cells_per_dim = {10}, .num_params = 1});
  EXPECT_THAT(archive, ::gdaqd::testing::IsOk());
  return *std::move(archive);
}

// Cells 0, 2, 3, 7 and 9 filled.
std::unique_ptr<ArchiveInterface> MakeFilledArchive() {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  for (float d : {0.5f, 2.5f, 3.5f, 7.5f, 9.5f}) {
    EXPECT_THAT(archive->Insert({d}, 1.0f, {d}), ::gdaqd::testing::IsOk());
  }
  return archive;
}

TEST(SelectUniformTest, EmptyArchiveIsFailedPrecondition) {
  std::mt19937_64 rng(0);
  EXPECT_THAT(SelectUniform(*MakeArchive(), 3, rng),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("empty")));
}

TEST(SelectUniformTest, NegativeCountIsInvalidArgument) {
  std::mt19937_64 rng(0);
  EXPECT_THAT(SelectUniform(*MakeFilledArchive(), -1, rng),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("n = -1")));
}

TEST(SelectUniformTest, ZeroCountReturnsNothing) {
  std::mt19937_64 rng(0);
  EXPECT_THAT(SelectUniform(*MakeFilledArchive(), 0, rng), IsOkAndHolds(IsEmpty()));
}

TEST(SelectUniformTest, ReturnsOnlyFilledCells) {
  std::mt19937_64 rng(1);
  EXPECT_THAT(
      SelectUniform(*MakeFilledArchive(), 1000, rng),
      IsOkAndHolds(::testing::AllOf(SizeIs(1000), Each(AnyOf(Eq(0), Eq(2), Eq(3), Eq(7), Eq(9))))));
}

TEST(SelectUniformTest, SameSeedGivesSameSelection) {
  std::unique_ptr<ArchiveInterface> archive = MakeFilledArchive();
  std::mt19937_64 rng_a(5);
  std::mt19937_64 rng_b(5);
  EXPECT_EQ(*SelectUniform(*archive, 100, rng_a), *SelectUniform(*archive, 100, rng_b));
}

TEST(SelectUniformTest, DrawsAreUniformOverFilledCells) {
  std::mt19937_64 rng(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> selected,
                             SelectUniform(*MakeFilledArchive(), kDraws, rng));
  std::map<int64_t, int64_t> counts;
  for (int64_t cell : selected) ++counts[cell];
  ASSERT_THAT(counts, SizeIs(5));
  const double expected = static_cast<double>(kDraws) / 5.0;
  double chi_square = 0.0;
  for (const auto& [cell, count] : counts) {
    chi_square += (count - expected) * (count - expected) / expected;
  }
  EXPECT_LT(chi_square, kChiSquareBound);
}

}  // namespace
}  // namespace gdaqd::server
