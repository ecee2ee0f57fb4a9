#include "server/algorithms/es/es_core.h"

#include <cmath>
#include <numeric>
#include <vector>

#include "common/seeds.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::server::es {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;

constexpr double kTol = 1e-12;

TEST(CentredRanksTest, MatchesHandValues) {
  EXPECT_THAT(CentredRanks(std::vector<double>{3, 1, 2}),
              ElementsAre(DoubleNear(0.5, kTol), DoubleNear(-0.5, kTol), DoubleNear(0, kTol)));
  // Five scores: ranks 0..4 over 4.
  EXPECT_THAT(CentredRanks(std::vector<double>{10, -1, 7, 3, 2}),
              ElementsAre(DoubleNear(0.5, kTol), DoubleNear(-0.5, kTol), DoubleNear(0.25, kTol),
                          DoubleNear(0, kTol), DoubleNear(-0.25, kTol)));
}

TEST(CentredRanksTest, TiesShareTheirMeanRank) {
  // Sorted 1, 1, 3, 5: the two 1s share rank 0.5.
  EXPECT_THAT(CentredRanks(std::vector<double>{1, 5, 1, 3}),
              ElementsAre(DoubleNear(0.5 / 3 - 0.5, kTol), DoubleNear(0.5, kTol),
                          DoubleNear(0.5 / 3 - 0.5, kTol), DoubleNear(2.0 / 3 - 0.5, kTol)));
  EXPECT_THAT(CentredRanks(std::vector<double>{4, 4, 4}),
              ElementsAre(DoubleNear(0, kTol), DoubleNear(0, kTol), DoubleNear(0, kTol)));
}

TEST(CentredRanksTest, DegenerateSizes) {
  EXPECT_TRUE(CentredRanks(std::vector<double>{}).empty());
  EXPECT_THAT(CentredRanks(std::vector<double>{42}), ElementsAre(0.0));
}

TEST(PairNoiseTest, IsReproducibleAndDiffersPerPairAndGeneration) {
  std::vector<float> a(16), b(16), c(16), d(16);
  PairNoise(common::DeriveSeed(7, 2, 0), 3, absl::MakeSpan(a));
  PairNoise(common::DeriveSeed(7, 2, 0), 3, absl::MakeSpan(b));
  PairNoise(common::DeriveSeed(7, 2, 0), 4, absl::MakeSpan(c));
  PairNoise(common::DeriveSeed(7, 2, 1), 3, absl::MakeSpan(d));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
}

// On f(theta) = -|theta - c|^2 the shaped antithetic estimate at theta = 0 points along the true
// gradient 2 c (centred ranks are monotone in f, so the direction survives the shaping).
TEST(EstimateGradientTest, PointsAlongAQuadraticsGradient) {
  const std::vector<double> c = {1.0, -2.0, 0.5, 3.0, -1.5};
  const double sigma = 0.02;
  const uint64_t seed = common::DeriveSeed(11, 2, 0);
  const int pairs = 400;
  std::vector<double> scores(2 * pairs);
  std::vector<int64_t> ids(pairs);
  std::vector<float> eps(c.size());
  for (int i = 0; i < pairs; ++i) {
    ids[i] = i;
    PairNoise(seed, i, absl::MakeSpan(eps));
    for (int side = 0; side < 2; ++side) {
      double f = 0;
      for (size_t j = 0; j < c.size(); ++j) {
        const double theta = (side == 0 ? 1 : -1) * sigma * eps[j];
        f -= (theta - c[j]) * (theta - c[j]);
      }
      scores[i + side * pairs] = f;
    }
  }
  const std::vector<double> u = CentredRanks(scores);
  std::vector<float> g(c.size());
  EstimateGradient(absl::MakeConstSpan(u).subspan(0, pairs), absl::MakeConstSpan(u).subspan(pairs),
                   ids, seed, sigma, absl::MakeSpan(g));
  double dot = 0, gg = 0, cc = 0;
  for (size_t j = 0; j < c.size(); ++j) {
    dot += g[j] * 2 * c[j];
    gg += g[j] * g[j];
    cc += 4 * c[j] * c[j];
  }
  EXPECT_GT(dot / std::sqrt(gg * cc), 0.95);
}

TEST(EstimateGradientTest, HandComputedForOnePair) {
  // One pair with u+ = 0.5, u- = -0.5: g = (0.5 - -0.5) eps / (2 sigma).
  const uint64_t seed = common::DeriveSeed(3, 2, 5);
  std::vector<float> eps(3), g(3);
  PairNoise(seed, 0, absl::MakeSpan(eps));
  const std::vector<int64_t> ids = {0};
  EstimateGradient(std::vector<double>{0.5}, std::vector<double>{-0.5}, ids, seed, 0.1,
                   absl::MakeSpan(g));
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(g[j], eps[j] / 0.2, 1e-5);
  // Equal utilities in a pair cancel.
  EstimateGradient(std::vector<double>{0.2}, std::vector<double>{0.2}, ids, seed, 0.1,
                   absl::MakeSpan(g));
  EXPECT_THAT(g, ElementsAre(0.0f, 0.0f, 0.0f));
}

TEST(AdamTest, FirstStepsMatchHandComputedValues) {
  AdamSettings adam;
  adam.learning_rate = 0.1;
  // A constant ascent direction: Adam's bias-corrected steps are exactly lr each.
  AdamState state;
  std::vector<float> theta = {1.0f};
  AdamAscentStep(adam, std::vector<float>{0.5f}, &state, absl::MakeSpan(theta));
  EXPECT_NEAR(theta[0], 1.1, 1e-6);
  AdamAscentStep(adam, std::vector<float>{0.5f}, &state, absl::MakeSpan(theta));
  EXPECT_NEAR(theta[0], 1.2, 1e-6);
  EXPECT_EQ(state.steps, 2);
  EXPECT_NEAR(state.m[0], -0.095, 1e-7);
  EXPECT_NEAR(state.v[0], 0.00049975, 1e-9);
}

TEST(AdamTest, L2TermPullsTowardZero) {
  AdamSettings adam;
  adam.learning_rate = 0.1;
  adam.l2 = 0.5;
  AdamState state;
  std::vector<float> theta = {2.0f};
  const std::vector<float> zero = {0.0f};
  // Hand values of m <- .9m + .1d, v <- .999v + .001d^2, d = 0.5 theta (see es_core.h).
  for (double want : {1.9000000316227665, 1.800166540062798, 1.7006234646985567}) {
    AdamAscentStep(adam, zero, &state, absl::MakeSpan(theta));
    EXPECT_NEAR(theta[0], want, 1e-6);
  }
}

}  // namespace
}  // namespace gdaqd::server::es
