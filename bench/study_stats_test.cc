#include "bench/study_stats.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::bench {
namespace {

using ::testing::ElementsAre;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(QuantileTest, InterpolatesLinearlyBetweenOrderStatistics) {
  EXPECT_DOUBLE_EQ(Quantile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(Quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Quantile({3, 1, 2}, 0.5), 2);
  EXPECT_DOUBLE_EQ(Quantile({5, 1, 4, 2, 3}, 0.75), 4);
  EXPECT_DOUBLE_EQ(Quantile({7}, 0.25), 7);
}

TEST(QuantileTest, IgnoresNaNAndKeepsInfinityOrdered) {
  EXPECT_DOUBLE_EQ(Quantile({kNaN, 1, 3}, 0.5), 2);
  EXPECT_TRUE(std::isnan(Quantile({}, 0.5)));
  EXPECT_TRUE(std::isnan(Quantile({kNaN}, 0.5)));
  EXPECT_DOUBLE_EQ(Quantile({1, 2, 3, kInf}, 0.5), 2.5);
  EXPECT_EQ(Quantile({1, kInf, kInf}, 0.5), kInf);
  EXPECT_EQ(Quantile({1, 2, kInf, kInf}, 0.5), kInf);
  EXPECT_EQ(Quantile({kInf, kInf}, 0.25), kInf);  // not inf - inf = NaN
}

TEST(EvaluationsToTargetTest, FirstPointAtOrAboveTarget) {
  const std::vector<Point> history = {{100, 1}, {200, 5}, {300, 5}, {400, 9}};
  EXPECT_EQ(EvaluationsToTarget(history, 5, 400).evaluations, 200);
  EXPECT_FALSE(EvaluationsToTarget(history, 5, 400).censored);
  EXPECT_EQ(EvaluationsToTarget(history, 0.5, 400).evaluations, 100);
}

TEST(EvaluationsToTargetTest, NeverReachedIsCensoredAtTheBudget) {
  const std::vector<Point> history = {{100, 1}, {200, 2}};
  const TargetHit hit = EvaluationsToTarget(history, 3, 200);
  EXPECT_TRUE(hit.censored);
  EXPECT_EQ(hit.evaluations, 200);
  EXPECT_TRUE(EvaluationsToTarget(history, kNaN, 200).censored);
}

TEST(EvaluationsToTargetTest, CensoredRanksAboveReachingAtTheBudget) {
  const TargetHit at_budget = EvaluationsToTarget({{100, 1}, {200, 3}}, 3, 200);
  const TargetHit censored = EvaluationsToTarget({{100, 1}, {200, 2}}, 3, 200);
  ASSERT_FALSE(at_budget.censored);
  EXPECT_EQ(at_budget.evaluations, censored.evaluations);  // same number ...
  EXPECT_LT(RankValue(at_budget), RankValue(censored));    // ... but censored ranks above
  // The run that reached the target at the budget is below; censored ones tie.
  const MannWhitney test = MannWhitneyU({RankValue(at_budget)}, {RankValue(censored)});
  EXPECT_EQ(test.u, 0);
}

TEST(ValueAtTest, StepFunctionOfTheLastPointNotAfter) {
  const std::vector<Point> history = {{10, 1}, {20, 2}, {30, 3}};
  EXPECT_TRUE(std::isnan(ValueAt(history, 5)));
  EXPECT_EQ(ValueAt(history, 10), 1);
  EXPECT_EQ(ValueAt(history, 25), 2);
  EXPECT_EQ(ValueAt(history, 1e9), 3);
  EXPECT_TRUE(std::isnan(ValueAt({}, 1)));
}

TEST(MannWhitneyTest, SeparatedSamplesOfFive) {
  // One of the C(10, 5) = 252 assignments gives U = 0 and one U = 25: p = 2/252.
  const MannWhitney low = MannWhitneyU({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_EQ(low.u, 0);
  EXPECT_NEAR(low.p, 2.0 / 252, 1e-12);
  EXPECT_NEAR(low.p, 0.0079365, 1e-7);
  EXPECT_TRUE(low.exact);
  const MannWhitney high = MannWhitneyU({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5});
  EXPECT_EQ(high.u, 25);
  EXPECT_NEAR(high.p, 2.0 / 252, 1e-12);
}

TEST(MannWhitneyTest, UnequalSizesAndIdenticalSamples) {
  // C(7, 3) = 35 assignments, U = 0 and U = 12 once each.
  EXPECT_NEAR(MannWhitneyU({1, 2, 3}, {4, 5, 6, 7}).p, 2.0 / 35, 1e-12);
  // All tied: every assignment has U = nm/2, so p = 1.
  const MannWhitney same = MannWhitneyU({1, 1, 1}, {1, 1});
  EXPECT_EQ(same.u, 3);
  EXPECT_EQ(same.p, 1);
}

TEST(MannWhitneyTest, TiesByMidRanks) {
  // Pooled 1 2 2 2 3 has ranks 1 3 3 3 5. x = {1, 2, 2}: R = 7, U = 1. Of the 10 subsets of
  // three ranks, U is 5 (3 ways), 3 (4 ways) and 1 (3 ways); |U - 3| >= 2 in 6: p = 0.6.
  const MannWhitney test = MannWhitneyU({1, 2, 2}, {2, 3});
  EXPECT_EQ(test.u, 1);
  EXPECT_NEAR(test.p, 0.6, 1e-12);
}

TEST(MannWhitneyTest, CensoredRunsTieAboveEveryReachedOne) {
  // x reached at 100 and 200 and once never; y never. Ranks 1, 2, then four ties at 4.5:
  // U = 1.5. Doubled rank sums of three of {2, 4, 9, 9, 9, 9}: 15 (4 ways), 20 (6), 22 (6),
  // 27 (4); |2U - 9| >= 6 for 15 and 27: p = 8/20.
  const MannWhitney test = MannWhitneyU({100, 200, kInf}, {kInf, kInf, kInf});
  EXPECT_EQ(test.u, 1.5);
  EXPECT_NEAR(test.p, 0.4, 1e-12);
}

TEST(MannWhitneyTest, DropsNaNAndRefusesEmptySamples) {
  const MannWhitney test = MannWhitneyU({1, kNaN, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_NEAR(test.p, 2.0 / 252, 1e-12);
  EXPECT_TRUE(std::isnan(MannWhitneyU({}, {1, 2}).p));
  EXPECT_TRUE(std::isnan(MannWhitneyU({kNaN}, {1, 2}).p));
}

// The two-sided p by listing every assignment of the pooled values to the first sample.
double BruteForceP(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> pooled = x;
  pooled.insert(pooled.end(), y.begin(), y.end());
  const int total = static_cast<int>(pooled.size()), n = static_cast<int>(x.size());
  auto u_of = [&](const std::vector<double>& a, const std::vector<double>& b) {
    double u = 0;
    for (double ai : a) {
      for (double bj : b) u += ai > bj ? 1 : (ai == bj ? 0.5 : 0);
    }
    return u;
  };
  const double center = x.size() * y.size() / 2.0;
  const double observed = std::fabs(u_of(x, y) - center);
  int extreme = 0, all = 0;
  for (int mask = 0; mask < (1 << total); ++mask) {
    if (__builtin_popcount(mask) != n) continue;
    std::vector<double> a, b;
    for (int i = 0; i < total; ++i) ((mask >> i) & 1 ? a : b).push_back(pooled[i]);
    ++all;
    if (std::fabs(u_of(a, b) - center) >= observed - 1e-9) ++extreme;
  }
  return static_cast<double>(extreme) / all;
}

TEST(MannWhitneyTest, MatchesListingEveryAssignment) {
  // Small samples with many ties and censored (+inf) values, drawn from a fixed sequence.
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1103515245u + 12345u; };
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(next() % 6), m = 1 + static_cast<int>(next() % 6);
    std::vector<double> x, y;
    auto draw = [&] {
      const uint32_t r = (next() >> 8) % 7;
      return r == 6 ? kInf : static_cast<double>(r);
    };
    for (int i = 0; i < n; ++i) x.push_back(draw());
    for (int j = 0; j < m; ++j) y.push_back(draw());
    const MannWhitney test = MannWhitneyU(x, y);
    ASSERT_NEAR(test.p, BruteForceP(x, y), 1e-12) << "trial " << trial;
  }
}

TEST(MannWhitneyTest, LargeSamplesUseTheNormalApproximation) {
  std::vector<double> x, y;
  for (int i = 0; i < 31; ++i) {
    x.push_back(i);
    y.push_back(100 + i);
  }
  const MannWhitney test = MannWhitneyU(x, y);
  EXPECT_FALSE(test.exact);
  EXPECT_EQ(test.u, 0);
  // z = 480.5 / sqrt(31 * 31 * 63 / 12) = 6.765; two-sided p = erfc(z / sqrt 2).
  EXPECT_NEAR(test.p, std::erfc(480.5 / std::sqrt(31.0 * 31 * 63 / 12) / std::sqrt(2.0)), 1e-15);
  EXPECT_LT(test.p, 1e-10);
  // The largest exact case (30 + 30) still counts exactly: p = 2 / C(60, 30).
  x.pop_back();
  y.pop_back();
  const MannWhitney exact = MannWhitneyU(x, y);
  EXPECT_TRUE(exact.exact);
  EXPECT_NEAR(exact.p, 2.0 / 1.1826458156486142e17, 1e-30);
}

TEST(AggregateTest, StepFunctionsFromTheLatestFirstX) {
  // Runs logged at different x: b starts later (at 20), so the curve starts there; at 30 a is
  // still at its value of 20 (a step function); a NaN value is left out of its x's quantiles.
  const Curve curve = Aggregate({{{10, 1}, {20, 2}, {40, 4}}, {{20, 10}, {30, NAN}, {40, 30}}});
  EXPECT_THAT(curve.x, ElementsAre(20, 30, 40));
  EXPECT_THAT(curve.median, ElementsAre(6, 2, 17));
  EXPECT_THAT(curve.q1, ElementsAre(4, 2, 10.5));
  EXPECT_THAT(curve.q3, ElementsAre(8, 2, 23.5));
  EXPECT_TRUE(Aggregate({}).x.empty());
}

TEST(MedianMinMaxTest, IgnoresNaN) {
  const MedianMinMax m = MedianMinMaxOf({3, NAN, -1, 10});
  EXPECT_EQ(m.median, 3);
  EXPECT_EQ(m.min, -1);
  EXPECT_EQ(m.max, 10);
  const MedianMinMax none = MedianMinMaxOf({NAN});
  EXPECT_TRUE(std::isnan(none.median) && std::isnan(none.min) && std::isnan(none.max));
}

}  // namespace
}  // namespace gdaqd::bench
