#include "client/results/plot_scale.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::client::internal {
namespace {

using ::testing::ElementsAre;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const std::string kMinus = "\xE2\x88\x92";

TEST(SanitizeRangeTest, KeepsValidSwapsReversedWidensDegenerate) {
  Range r = SanitizeRange(-1, 2);
  EXPECT_EQ(r.low, -1);
  EXPECT_EQ(r.high, 2);
  r = SanitizeRange(3, 1);
  EXPECT_EQ(r.low, 1);
  EXPECT_EQ(r.high, 3);
  r = SanitizeRange(10, 10);
  EXPECT_DOUBLE_EQ(r.low, 9.5);
  EXPECT_DOUBLE_EQ(r.high, 10.5);
  r = SanitizeRange(0, 0);
  EXPECT_EQ(r.low, -1);
  EXPECT_EQ(r.high, 1);
}

TEST(SanitizeRangeTest, NonFiniteGivesUnitRange) {
  for (const auto& [low, high] : {std::pair{kNan, 1.0}, {0.0, kInf}, {-kInf, kInf}}) {
    const Range r = SanitizeRange(low, high);
    EXPECT_EQ(r.low, 0);
    EXPECT_EQ(r.high, 1);
  }
}

TEST(NiceTicksTest, SymmetricUnitBox) {
  const AxisTicks ticks = NiceTicks({-1, 1}, 5);
  EXPECT_EQ(ticks.step, 0.5);
  EXPECT_THAT(ticks.values, ElementsAre(-1, -0.5, 0, 0.5, 1));
}

TEST(NiceTicksTest, ValuesAreExactDecimals) {
  const AxisTicks ticks = NiceTicks({0, 1}, 6);
  EXPECT_THAT(ticks.values, ElementsAre(0, 0.2, 0.4, 0.6, 0.8, 1.0));
  const AxisTicks tenths = NiceTicks({0, 0.9}, 10);
  EXPECT_EQ(tenths.values[3], 0.3);  // not 0.30000000000000004
}

TEST(NiceTicksTest, MillionEvaluations) {
  const AxisTicks ticks = NiceTicks({0, 1e6}, 5);
  EXPECT_EQ(ticks.step, 2e5);
  EXPECT_EQ(ticks.values.size(), 6u);
}

TEST(NiceTicksTest, StepsAreOneTwoFiveAndTicksInsideRange) {
  const Range ranges[] = {{-3.7, 12.2}, {0.001, 0.0013}, {-1e9, -2e8}, {5, 5.5}, {-0.3, 63}};
  for (const Range& range : ranges) {
    for (int target = 2; target <= 9; ++target) {
      const AxisTicks ticks = NiceTicks(range, target);
      const double mantissa = ticks.step / std::pow(10.0, std::floor(std::log10(ticks.step)));
      EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
                  std::abs(mantissa - 5) < 1e-9)
          << ticks.step;
      ASSERT_FALSE(ticks.values.empty());
      EXPECT_GE(ticks.values.front(), range.low - 1e-12 * std::abs(range.low));
      EXPECT_LE(ticks.values.back(), range.high + 1e-12 * std::abs(range.high));
    }
  }
}

TEST(NiceTicksTest, MinStepForcesCoarserTicks) {
  const AxisTicks fine = NiceTicks({0, 1e6}, 5);
  const AxisTicks coarse = NiceTicks({0, 1e6}, 5, fine.step);
  EXPECT_GT(coarse.step, fine.step);
  EXPECT_THAT(coarse.values, ElementsAre(0, 5e5, 1e6));
}

TEST(NiceTicksTest, RangesTooWideForADoubleGetNoTicks) {
  const AxisTicks ticks = NiceTicks({-1e308, 1e308}, 5);
  EXPECT_TRUE(ticks.values.empty());
  EXPECT_EQ(ticks.step, 0.0);
}

TEST(NiceTicksTest, TinyRangesStillGetTicks) {
  const AxisTicks ticks = NiceTicks({1e-300, 5e-300}, 5);
  EXPECT_GE(ticks.values.size(), 3u);
}

TEST(PadTest, AddsMarginsUnlessTheyOverflow) {
  const Range padded = Pad({0, 10}, 0.05);
  EXPECT_DOUBLE_EQ(padded.low, -0.5);
  EXPECT_DOUBLE_EQ(padded.high, 10.5);
  const Range huge = Pad({-1e308, 1.7e308}, 0.05);
  EXPECT_EQ(huge.low, -1e308);
  EXPECT_EQ(huge.high, 1.7e308);
}

TEST(FormatTickLabelTest, PlainDecimalsFollowTheStep) {
  EXPECT_EQ(FormatTickLabel(0.5, 0.5, 1), "0.5");
  EXPECT_EQ(FormatTickLabel(1, 0.5, 1), "1.0");
  EXPECT_EQ(FormatTickLabel(0.25, 0.05, 1), "0.25");
  EXPECT_EQ(FormatTickLabel(40, 20, 80), "40");
  EXPECT_EQ(FormatTickLabel(0.3, 0.1, 1), "0.3");
}

TEST(FormatTickLabelTest, ThousandsSeparators) {
  EXPECT_EQ(FormatTickLabel(2500, 500, 5000), "2,500");
  EXPECT_EQ(FormatTickLabel(9999.5, 0.5, 9999.5), "9,999.5");
  EXPECT_EQ(FormatTickLabel(-1000, 1000, 3000), kMinus + "1,000");
}

TEST(FormatTickLabelTest, SuffixesForLargeMagnitudes) {
  EXPECT_EQ(FormatTickLabel(0, 2e5, 1e6), "0");
  EXPECT_EQ(FormatTickLabel(2e5, 2e5, 1e6), "200k");
  EXPECT_EQ(FormatTickLabel(1e6, 2e5, 1e6), "1M");
  EXPECT_EQ(FormatTickLabel(1.5e6, 5e5, 2.5e6), "1.5M");
  EXPECT_EQ(FormatTickLabel(2e9, 1e9, 5e9), "2G");
  EXPECT_EQ(FormatTickLabel(12500, 2500, 20000), "12.5k");
  EXPECT_EQ(FormatTickLabel(500, 500, 20000), "500");
  EXPECT_EQ(FormatTickLabel(-3e6, 1e6, 5e6), kMinus + "3M");
}

TEST(FormatTickLabelTest, TinyAndHugeUseSignificantDigits) {
  EXPECT_EQ(FormatTickLabel(1.234e-7, 1e-8, 2e-7), "1.23e-07");
  EXPECT_EQ(FormatTickLabel(-2e20, 1e20, 5e20), kMinus + "2e+20");
}

TEST(FormatTickLabelTest, NoNegativeZeroAndEmptyForNonFinite) {
  EXPECT_EQ(FormatTickLabel(-0.0, 1, 1), "0");
  EXPECT_EQ(FormatTickLabel(-0.001, 0.1, 1), "0.0");
  EXPECT_EQ(FormatTickLabel(kNan, 1, 1), "");
  EXPECT_EQ(FormatTickLabel(-kInf, 1, 1), "");
}

TEST(ViridisTest, EndpointsAndMiddleMatchMatplotlib) {
  EXPECT_EQ(ViridisHex(0.0), "#440154");
  EXPECT_EQ(ViridisHex(0.5), "#21918c");
  EXPECT_EQ(ViridisHex(1.0), "#fde725");
  EXPECT_EQ(ViridisHex(0.05), "#461365");  // halfway between the first two stops
}

TEST(ViridisTest, ClampsOutOfRangeAndNan) {
  EXPECT_EQ(ViridisHex(-3.0), "#440154");
  EXPECT_EQ(ViridisHex(7.0), "#fde725");
  EXPECT_EQ(ViridisHex(kNan), "#440154");
  EXPECT_EQ(ViridisStops().size(), 11u);
}

TEST(EstimateTextWidthTest, GrowsWithTextAndSize) {
  EXPECT_EQ(EstimateTextWidth("", 12), 0.0);
  EXPECT_GT(EstimateTextWidth("1,000", 11), EstimateTextWidth("100", 11));
  EXPECT_DOUBLE_EQ(EstimateTextWidth("abc", 22), 2 * EstimateTextWidth("abc", 11));
  // A multi-byte character counts once.
  EXPECT_DOUBLE_EQ(EstimateTextWidth("\xC2\xB7", 10), EstimateTextWidth("\xE2\x88\x92", 10));
}

}  // namespace
}  // namespace gdaqd::client::internal
