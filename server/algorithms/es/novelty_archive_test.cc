#include "server/algorithms/es/novelty_archive.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::es {
namespace {

using testing::StatusIs;

constexpr double kTol = 1e-9;

NoveltyArchive ThreePoints() {
  NoveltyArchive archive(2, 100);
  archive.Add(std::vector<float>{0, 0});
  archive.Add(std::vector<float>{3, 4});
  archive.Add(std::vector<float>{6, 8});
  return archive;
}

TEST(NoveltyArchiveTest, MeanDistanceToKNearest) {
  const NoveltyArchive archive = ThreePoints();
  // From (0, 0): distances 0, 5, 10.
  EXPECT_NEAR(archive.Novelty(std::vector<float>{0, 0}, 1), 0.0, kTol);
  EXPECT_NEAR(archive.Novelty(std::vector<float>{0, 0}, 2), 2.5, kTol);
  // From (3, 0): distances 3, 4, sqrt(9 + 64).
  EXPECT_NEAR(archive.Novelty(std::vector<float>{3, 0}, 2), 3.5, kTol);
}

TEST(NoveltyArchiveTest, KLargerThanTheArchiveAveragesAll) {
  const NoveltyArchive archive = ThreePoints();
  EXPECT_NEAR(archive.Novelty(std::vector<float>{0, 0}, 10), 5.0, kTol);
}

TEST(NoveltyArchiveTest, DuplicatesAreSeparateNeighbours) {
  NoveltyArchive archive = ThreePoints();
  archive.Add(std::vector<float>{3, 4});
  // From (0, 0): 0, 5, 5, 10.
  EXPECT_NEAR(archive.Novelty(std::vector<float>{0, 0}, 3), 10.0 / 3, kTol);
  EXPECT_NEAR(archive.Novelty(std::vector<float>{3, 4}, 2), 0.0, kTol);
}

TEST(NoveltyArchiveTest, EmptyArchiveGivesZero) {
  NoveltyArchive archive(2, 5);
  EXPECT_EQ(archive.Novelty(std::vector<float>{1, 1}, 10), 0.0);
}

TEST(NoveltyArchiveTest, FullArchiveDropsTheOldestFirst) {
  NoveltyArchive archive(1, 2);
  for (float x : {1.0f, 2.0f, 3.0f}) archive.Add(std::vector<float>{x});
  EXPECT_EQ(archive.size(), 2);
  EXPECT_EQ(archive.Ordered(), (std::vector<float>{2, 3}));
  // Distances from 0 are 2 and 3: the 1 is gone.
  EXPECT_NEAR(archive.Novelty(std::vector<float>{0}, 1), 2.0, kTol);
  archive.Add(std::vector<float>{4});
  EXPECT_EQ(archive.Ordered(), (std::vector<float>{3, 4}));
}

TEST(NoveltyArchiveTest, RestoreRoundTripsAndRefusesWhatDoesNotFit) {
  NoveltyArchive archive(1, 3);
  for (float x : {1.0f, 2.0f, 3.0f, 4.0f}) archive.Add(std::vector<float>{x});
  NoveltyArchive copy(1, 3);
  GDAQD_ASSERT_OK(copy.Restore(archive.Ordered()));
  EXPECT_EQ(copy.Ordered(), archive.Ordered());
  archive.Add(std::vector<float>{5});
  copy.Add(std::vector<float>{5});
  EXPECT_EQ(copy.Ordered(), archive.Ordered());
  EXPECT_THAT(copy.Restore(std::vector<float>{1, 2, 3, 4}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  NoveltyArchive two_d(2, 3);
  EXPECT_THAT(two_d.Restore(std::vector<float>{1, 2, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace gdaqd::server::es
