// Insertion rules and storage of DenseArchive, exercised through a small GridArchive.
#include "server/archive/archive.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "server/archive/grid_archive.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::IsOk;
using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// 4 unit cells over [0, 4] in 1-D, 2 params per elite: cell k holds descriptors [k, k+1).
std::unique_ptr<ArchiveInterface> MakeArchive() {
  auto archive =
      GridArchive::Create({.low = {0.0f}, .high = {4.0f}, .cells_per_dim = {4}, .num_params = 2});
  EXPECT_THAT(archive, IsOk());
  return *std::move(archive);
}

::testing::Matcher<InsertOutcome> Outcome(InsertStatus status, int64_t cell, float previous) {
  return ::testing::AllOf(Field(&InsertOutcome::status, Eq(status)),
                          Field(&InsertOutcome::cell, Eq(cell)),
                          Field(&InsertOutcome::previous_fitness, Eq(previous)));
}

// ---- Insert ----

TEST(DenseArchiveTest, InsertIntoEmptyCellIsNew) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK_AND_ASSIGN(InsertOutcome outcome, archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}));
  EXPECT_THAT(outcome, Outcome(InsertStatus::kNew, 1, -kInf));
  EXPECT_EQ(archive->num_filled(), 1);
  EXPECT_THAT(archive->filled_cells(), ElementsAre(1));
  const std::optional<EliteView> elite = archive->elite(1);
  ASSERT_TRUE(elite.has_value());
  EXPECT_EQ(elite->cell, 1);
  EXPECT_EQ(elite->fitness, 3.0f);
  EXPECT_THAT(elite->descriptor, ElementsAre(1.5f));  // actual descriptor, not the centroid
  EXPECT_THAT(elite->params, ElementsAre(7.0f, 8.0f));
}

TEST(DenseArchiveTest, BetterFitnessImprovesAndReportsPrevious) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(InsertOutcome outcome, archive->Insert({1.2f}, 4.0f, {1.0f, 2.0f}));
  EXPECT_THAT(outcome, Outcome(InsertStatus::kImproved, 1, 3.0f));
  EXPECT_EQ(archive->num_filled(), 1);
  EXPECT_EQ(archive->elite(1)->fitness, 4.0f);
  EXPECT_THAT(archive->elite(1)->descriptor, ElementsAre(1.2f));
  EXPECT_THAT(archive->elite(1)->params, ElementsAre(1.0f, 2.0f));
}

TEST(DenseArchiveTest, EqualFitnessIsNotAdded) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(InsertOutcome outcome, archive->Insert({1.2f}, 3.0f, {1.0f, 2.0f}));
  EXPECT_THAT(outcome, Outcome(InsertStatus::kNotAdded, 1, 3.0f));
  EXPECT_THAT(archive->elite(1)->params, ElementsAre(7.0f, 8.0f));
}

TEST(DenseArchiveTest, WorseFitnessIsNotAdded) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(InsertOutcome outcome, archive->Insert({1.2f}, -1.0f, {1.0f, 2.0f}));
  EXPECT_THAT(outcome, Outcome(InsertStatus::kNotAdded, 1, 3.0f));
  EXPECT_EQ(archive->elite(1)->fitness, 3.0f);
}

TEST(DenseArchiveTest, NonFiniteFitnessIsRejectedAndArchiveUnchanged) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}).status());
  EXPECT_THAT(archive->Insert({1.5f}, kNaN, {1.0f, 2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fitness = nan")));
  EXPECT_THAT(archive->Insert({2.5f}, kInf, {1.0f, 2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fitness = inf")));
  EXPECT_EQ(archive->num_filled(), 1);
  EXPECT_EQ(archive->elite(1)->fitness, 3.0f);
  EXPECT_FALSE(archive->is_filled(2));
}

TEST(DenseArchiveTest, WrongParamsSizeIsRejected) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_THAT(archive->Insert({1.5f}, 3.0f, {1.0f, 2.0f, 3.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params has 3")));
  EXPECT_EQ(archive->num_filled(), 0);
}

TEST(DenseArchiveTest, BadDescriptorIsRejected) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_THAT(archive->Insert({kNaN}, 3.0f, {1.0f, 2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor[0]")));
  EXPECT_THAT(archive->Insert({1.0f, 1.0f}, 3.0f, {1.0f, 2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor has 2 dims")));
  EXPECT_EQ(archive->num_filled(), 0);
}

TEST(DenseArchiveTest, OutOfRangeCellsAreNotFilled) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_FALSE(archive->is_filled(-1));
  EXPECT_FALSE(archive->is_filled(4));
  EXPECT_FALSE(archive->elite(4).has_value());
}

// ---- InsertBatch ----

TEST(DenseArchiveTest, BatchTieFirstInBatchWins) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::vector<InsertOutcome> outcomes,
      archive->InsertBatch({0.5f, 0.6f}, {2.0f, 2.0f}, {1.0f, 1.0f, 2.0f, 2.0f}));
  EXPECT_THAT(outcomes, ElementsAre(Outcome(InsertStatus::kNew, 0, -kInf),
                                    Outcome(InsertStatus::kNotAdded, 0, -kInf)));
  EXPECT_THAT(archive->elite(0)->params, ElementsAre(1.0f, 1.0f));
  EXPECT_THAT(archive->elite(0)->descriptor, ElementsAre(0.5f));
}

TEST(DenseArchiveTest, BatchOnlyCellMaximumCompetes) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 5.0f, {0.0f, 0.0f}).status());
  // Cell 0 (empty): rows 0, 2; row 2 is the max. Cell 1 (fitness 5): rows 1, 3; row 3 is the
  // max and beats 5, row 1 also beats 5 but is not the batch max. Cell 3: row 4 alone.
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::vector<InsertOutcome> outcomes,
      archive->InsertBatch({0.1f, 1.1f, 0.2f, 1.2f, 3.5f}, {1.0f, 6.0f, 2.0f, 7.0f, 4.0f},
                           {0, 0, 1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_THAT(outcomes, ElementsAre(Outcome(InsertStatus::kNotAdded, 0, -kInf),
                                    Outcome(InsertStatus::kNotAdded, 1, 5.0f),
                                    Outcome(InsertStatus::kNew, 0, -kInf),
                                    Outcome(InsertStatus::kImproved, 1, 5.0f),
                                    Outcome(InsertStatus::kNew, 3, -kInf)));
  EXPECT_THAT(archive->filled_cells(), ElementsAre(0, 1, 3));
  EXPECT_EQ(archive->elite(0)->fitness, 2.0f);
  EXPECT_THAT(archive->elite(1)->params, ElementsAre(3.0f, 3.0f));
  EXPECT_EQ(archive->num_filled(), 3);
}

TEST(DenseArchiveTest, BatchMaximumMustBeatIncumbent) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 5.0f, {0.0f, 0.0f}).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<InsertOutcome> outcomes,
                             archive->InsertBatch({1.1f, 1.2f}, {5.0f, 4.0f}, {1, 1, 2, 2}));
  EXPECT_THAT(outcomes, ElementsAre(Outcome(InsertStatus::kNotAdded, 1, 5.0f),
                                    Outcome(InsertStatus::kNotAdded, 1, 5.0f)));
  EXPECT_THAT(archive->elite(1)->params, ElementsAre(0.0f, 0.0f));
}

TEST(DenseArchiveTest, BatchWithBadRowIsRejectedAtomically) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_THAT(archive->InsertBatch({0.5f, 1.5f, 2.5f}, {1.0f, 2.0f, kNaN}, {0, 0, 1, 1, 2, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row 2: fitness")));
  EXPECT_THAT(archive->InsertBatch({0.5f, kInf}, {1.0f, 2.0f}, {0, 0, 1, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row 1: descriptor[0]")));
  EXPECT_EQ(archive->num_filled(), 0);
}

TEST(DenseArchiveTest, BatchWithMismatchedSizesIsRejected) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_THAT(archive->InsertBatch({0.5f, 1.5f}, {1.0f, 2.0f}, {0, 0, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch of 2")));
  EXPECT_THAT(archive->InsertBatch({0.5f}, {1.0f, 2.0f}, {0, 0, 1, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch of 2")));
  EXPECT_EQ(archive->num_filled(), 0);
}

TEST(DenseArchiveTest, EmptyBatchIsOk) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  EXPECT_THAT(archive->InsertBatch({}, {}, {}), ::gdaqd::testing::IsOkAndHolds(IsEmpty()));
}

// ---- Clone and Clear ----

TEST(DenseArchiveTest, CloneIsIndependentDeepCopy) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}).status());
  std::unique_ptr<ArchiveInterface> clone = archive->Clone();
  GDAQD_ASSERT_OK(clone->Insert({1.5f}, 9.0f, {1.0f, 1.0f}).status());
  GDAQD_ASSERT_OK(clone->Insert({3.5f}, 1.0f, {2.0f, 2.0f}).status());
  GDAQD_ASSERT_OK(archive->Insert({0.5f}, 1.0f, {3.0f, 3.0f}).status());

  EXPECT_THAT(archive->filled_cells(), ElementsAre(0, 1));
  EXPECT_EQ(archive->elite(1)->fitness, 3.0f);
  EXPECT_THAT(archive->elite(1)->params, ElementsAre(7.0f, 8.0f));
  EXPECT_THAT(clone->filled_cells(), ElementsAre(1, 3));
  EXPECT_EQ(clone->elite(1)->fitness, 9.0f);
  EXPECT_EQ(clone->num_cells(), archive->num_cells());
  EXPECT_THAT(clone->CellIndex({2.5f}), ::gdaqd::testing::IsOkAndHolds(2));
}

TEST(DenseArchiveTest, ClearEmptiesEveryCell) {
  std::unique_ptr<ArchiveInterface> archive = MakeArchive();
  GDAQD_ASSERT_OK(archive->Insert({1.5f}, 3.0f, {7.0f, 8.0f}).status());
  archive->Clear();
  EXPECT_EQ(archive->num_filled(), 0);
  EXPECT_THAT(archive->filled_cells(), IsEmpty());
  GDAQD_ASSERT_OK_AND_ASSIGN(InsertOutcome outcome, archive->Insert({1.5f}, -5.0f, {1.0f, 1.0f}));
  EXPECT_THAT(outcome, Outcome(InsertStatus::kNew, 1, -kInf));
}

}  // namespace
}  // namespace gdaqd::server
