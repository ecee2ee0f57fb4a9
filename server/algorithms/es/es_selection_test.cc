#include "server/algorithms/es/es_selection.h"

#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::server::es {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;

TEST(MixedUtilitiesTest, AveragesTheTwoRankings) {
  const std::vector<double> rewards = {1, 2, 3}, novelties = {30, 20, 10};
  // Opposite rankings cancel at w = 0.5 (NSR-ES).
  EXPECT_THAT(MixedUtilities(rewards, novelties, 0.5),
              ElementsAre(DoubleNear(0, 1e-12), DoubleNear(0, 1e-12), DoubleNear(0, 1e-12)));
  EXPECT_THAT(MixedUtilities(rewards, novelties, 1.0), ElementsAre(-0.5, 0.0, 0.5));
  EXPECT_THAT(MixedUtilities(rewards, novelties, 0.0), ElementsAre(0.5, 0.0, -0.5));
  // Raw scales do not matter, only ranks: w = 0.75 gives 0.75 u_r + 0.25 u_n.
  EXPECT_THAT(
      MixedUtilities(rewards, std::vector<double>{1e6, 0, 5}, 0.75),
      ElementsAre(DoubleNear(-0.25, 1e-12), DoubleNear(-0.125, 1e-12), DoubleNear(0.375, 1e-12)));
}

TEST(NsraWeightTest, FollowsAScriptedRewardSequence) {
  NsraWeight w(/*initial=*/1.0, /*delta=*/0.05, /*stagnation=*/3);
  // reward: 1 (best) | 0.5 0.5 0.5 (3 stagnant: -delta) | 0.9 0.9 0.9 (-delta) | 0.2 0.2 0.2
  // (-delta) | 2 (best: +delta) | 1 1 (2 stagnant, no change) | 3 (best: +delta)
  const std::vector<double> rewards = {1, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 2, 1, 1, 3};
  const std::vector<double> want = {1.0, 1.0, 1.0,  0.95, 0.95, 0.95, 0.9,
                                    0.9, 0.9, 0.85, 0.9,  0.9,  0.9,  0.95};
  for (size_t i = 0; i < rewards.size(); ++i) {
    w.Observe(rewards[i]);
    EXPECT_NEAR(w.weight(), want[i], 1e-12) << "generation " << i;
  }
  EXPECT_EQ(w.best(), 3);
  EXPECT_EQ(w.stagnant(), 0);
}

TEST(NsraWeightTest, StaysInTheUnitInterval) {
  NsraWeight w(0.05, 0.05, 1);
  for (int i = 0; i < 5; ++i) w.Observe(-1);  // the first is a new best (from -inf)
  EXPECT_EQ(w.weight(), 0.0);
  for (int i = 0; i < 40; ++i) w.Observe(i);
  EXPECT_EQ(w.weight(), 1.0);
}

TEST(SampleProportionalTest, FollowsTheWeights) {
  std::mt19937_64 rng(5);
  std::vector<int> counts(3);
  const std::vector<double> weights = {1, 0, 3};
  for (int i = 0; i < 20000; ++i) ++counts[SampleProportional(weights, rng)];
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[0] / 20000.0, 0.25, 0.02);
  // All zero: uniform.
  std::vector<int> uniform(4);
  for (int i = 0; i < 8000; ++i) ++uniform[SampleProportional(std::vector<double>(4, 0), rng)];
  for (int c : uniform) EXPECT_NEAR(c / 8000.0, 0.25, 0.03);
}

TEST(TopIndicesTest, LargestFirstTiesToTheLowerIndex) {
  EXPECT_THAT(TopIndices(std::vector<double>{1, 5, 3, 5, 0}, 3), ElementsAre(1, 3, 2));
  EXPECT_THAT(TopIndices(std::vector<double>{2, 1}, 5), ElementsAre(0, 1));
}

TEST(MeEsScheduleTest, AlternatesBlocksStartingWithExplore) {
  std::vector<bool> new_parent, explore;
  for (int g = 0; g < 9; ++g) {
    new_parent.push_back(MeEsNewParent(g, 3));
    explore.push_back(MeEsExplores(g, 3));
  }
  EXPECT_THAT(new_parent, ElementsAre(true, false, false, true, false, false, true, false, false));
  EXPECT_THAT(explore, ElementsAre(true, true, true, false, false, false, true, true, true));
}

TEST(MeEsParentTest, ExploreDrawsOnlyAmongTheMostNovel) {
  std::mt19937_64 rng(1);
  const std::vector<double> novelty = {0.1, 0.9, 0.2, 0.8, 0.0};
  std::vector<int> counts(5);
  for (int i = 0; i < 1000; ++i) ++counts[ChooseExploreParent(novelty, 2, rng)];
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_GT(counts[1], 400);
  EXPECT_GT(counts[3], 400);
}

TEST(MeEsParentTest, ExploitUsesTheBestOfGridOrRecentRing) {
  std::mt19937_64 rng(2);
  const std::vector<double> grid = {5, 1, 9, 7}, recent = {-3, 4, 0};
  int from_recent = 0;
  for (int i = 0; i < 2000; ++i) {
    const EliteChoice choice = ChooseExploitParent(grid, recent, 2, rng);
    if (choice.from_recent) {
      ++from_recent;
      EXPECT_TRUE(choice.source == 1 || choice.source == 2) << choice.source;
    } else {
      EXPECT_TRUE(choice.source == 2 || choice.source == 3) << choice.source;
    }
  }
  EXPECT_NEAR(from_recent / 2000.0, 0.5, 0.05);
  // An empty ring: always the grid.
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(ChooseExploitParent(grid, {}, 2, rng).from_recent);
}

}  // namespace
}  // namespace gdaqd::server::es
