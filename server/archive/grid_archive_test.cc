#include "server/archive/grid_archive.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::IsOk;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int kCells = 50;

// 50 cells over [-1, 1] in 1-D, 2 params per elite.
std::unique_ptr<GridArchive> Make1d() {
  auto archive = GridArchive::Create(
      {.low = {-1.0f}, .high = {1.0f}, .cells_per_dim = {kCells}, .num_params = 2});
  EXPECT_THAT(archive, IsOk());
  return *std::move(archive);
}

// 3 x 4 cells over [0, 3] x [0, 4] (unit cells), 1 param per elite.
std::unique_ptr<GridArchive> Make2d() {
  auto archive = GridArchive::Create(
      {.low = {0.0f, 0.0f}, .high = {3.0f, 4.0f}, .cells_per_dim = {3, 4}, .num_params = 1});
  EXPECT_THAT(archive, IsOk());
  return *std::move(archive);
}

// ---- Create validation ----

TEST(GridArchiveTest, CreateRejectsDimsMismatch) {
  EXPECT_THAT(GridArchive::Create(
                  {.low = {0.0f}, .high = {1.0f}, .cells_per_dim = {2, 2}, .num_params = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells_per_dim")));
  EXPECT_THAT(GridArchive::Create(
                  {.low = {0.0f, 0.0f}, .high = {1.0f}, .cells_per_dim = {2}, .num_params = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("high")));
}

TEST(GridArchiveTest, CreateRejectsZeroCells) {
  EXPECT_THAT(
      GridArchive::Create({.low = {0.0f}, .high = {1.0f}, .cells_per_dim = {0}, .num_params = 1}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells_per_dim[0]")));
}

TEST(GridArchiveTest, CreateRejectsLowNotBelowHigh) {
  EXPECT_THAT(
      GridArchive::Create({.low = {1.0f}, .high = {1.0f}, .cells_per_dim = {2}, .num_params = 1}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("low[0]")));
}

TEST(GridArchiveTest, CreateRejectsNonFiniteBounds) {
  EXPECT_THAT(
      GridArchive::Create({.low = {0.0f}, .high = {kInf}, .cells_per_dim = {2}, .num_params = 1}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite")));
}

TEST(GridArchiveTest, CreateRejectsNonPositiveNumParams) {
  EXPECT_THAT(
      GridArchive::Create({.low = {0.0f}, .high = {1.0f}, .cells_per_dim = {2}, .num_params = 0}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_params")));
}

TEST(GridArchiveTest, CreateRejectsTooManyCells) {
  EXPECT_THAT(GridArchive::Create({.low = {0.0f, 0.0f},
                                   .high = {1.0f, 1.0f},
                                   .cells_per_dim = {10000, 1001},
                                   .num_params = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells_per_dim")));
}

TEST(GridArchiveTest, CreateReportsShape) {
  std::unique_ptr<GridArchive> archive = Make2d();
  EXPECT_EQ(archive->num_cells(), 12);
  EXPECT_EQ(archive->descriptor_dim(), 2);
  EXPECT_EQ(archive->num_params(), 1);
  EXPECT_EQ(archive->num_filled(), 0);
  EXPECT_THAT(archive->filled_cells(), IsEmpty());
}

// ---- Descriptor -> cell mapping ----

TEST(GridArchiveTest, LowerBoundMapsToFirstCell) {
  EXPECT_THAT(Make1d()->CellIndex({-1.0f}), IsOkAndHolds(0));
}

TEST(GridArchiveTest, UpperBoundMapsToLastCell) {
  EXPECT_THAT(Make1d()->CellIndex({1.0f}), IsOkAndHolds(kCells - 1));
}

TEST(GridArchiveTest, ExactCellEdgesBelongToUpperCell) {
  std::unique_ptr<GridArchive> archive = Make1d();
  for (int k = 0; k < kCells; ++k) {
    // The edge rounded to float once (double arithmetic) and with float arithmetic.
    const float from_double = static_cast<float>(-1.0 + 2.0 * k / kCells);
    const float from_float = -1.0f + 2.0f * static_cast<float>(k) / static_cast<float>(kCells);
    EXPECT_THAT(archive->CellIndex({from_double}), IsOkAndHolds(k)) << "k=" << k;
    EXPECT_THAT(archive->CellIndex({from_float}), IsOkAndHolds(k)) << "k=" << k;
  }
}

TEST(GridArchiveTest, CellInteriorMapsToItsCell) {
  std::unique_ptr<GridArchive> archive = Make1d();
  for (int k = 0; k < kCells; ++k) {
    EXPECT_THAT(archive->CellIndex({archive->centroid(k)[0]}), IsOkAndHolds(k)) << "k=" << k;
  }
}

TEST(GridArchiveTest, OutOfRangeSnapsToEdgeCells) {
  std::unique_ptr<GridArchive> archive = Make1d();
  EXPECT_THAT(archive->CellIndex({-1.5f}), IsOkAndHolds(0));
  EXPECT_THAT(archive->CellIndex({-1e30f}), IsOkAndHolds(0));
  EXPECT_THAT(archive->CellIndex({1.5f}), IsOkAndHolds(kCells - 1));
  EXPECT_THAT(archive->CellIndex({1e30f}), IsOkAndHolds(kCells - 1));
}

TEST(GridArchiveTest, CellIndexRejectsNaN) {
  EXPECT_THAT(Make2d()->CellIndex({0.5f, kNaN}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor[1] = nan")));
}

TEST(GridArchiveTest, CellIndexRejectsInf) {
  EXPECT_THAT(Make2d()->CellIndex({-kInf, 0.5f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor[0] = -inf")));
}

TEST(GridArchiveTest, CellIndexRejectsWrongSize) {
  EXPECT_THAT(Make2d()->CellIndex({0.5f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 dims, archive has 2")));
}

TEST(GridArchiveTest, FlattensRowMajorLastDimensionFastest) {
  std::unique_ptr<GridArchive> archive = Make2d();
  EXPECT_THAT(archive->CellIndex({0.5f, 0.5f}), IsOkAndHolds(0));
  EXPECT_THAT(archive->CellIndex({0.5f, 1.5f}), IsOkAndHolds(1));
  EXPECT_THAT(archive->CellIndex({1.5f, 0.5f}), IsOkAndHolds(4));
  EXPECT_THAT(archive->CellIndex({2.5f, 3.5f}), IsOkAndHolds(11));
}

TEST(GridArchiveTest, CentroidsAreCellCentres) {
  std::unique_ptr<GridArchive> archive = Make2d();
  EXPECT_THAT(archive->centroid(0), ElementsAre(FloatEq(0.5f), FloatEq(0.5f)));
  EXPECT_THAT(archive->centroid(6), ElementsAre(FloatEq(1.5f), FloatEq(2.5f)));
  EXPECT_THAT(archive->centroid(11), ElementsAre(FloatEq(2.5f), FloatEq(3.5f)));
}

}  // namespace
}  // namespace gdaqd::server
