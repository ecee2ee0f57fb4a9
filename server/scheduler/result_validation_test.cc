#include "server/scheduler/result_validation.h"

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/point_maze.h"
#include "common/rollout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::EpisodeResult;
using ::testing::HasSubstr;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kLength = 10;
constexpr int kRow = 9;  // point_maze: 2 * 2 + 2 + 3

// point_maze limits with 100-step episodes and transitions requested.
ResultLimits MazeLimits() {
  EvalRequest request;
  request.descriptor_dim = 2;
  request.record_transitions = true;
  ApplyTaskLimits(common::PointMazeSpec(100), &request);
  return ResultLimitsFor(request);
}

// A result an honest worker could send: kLength steps, fitness -1 per step.
EpisodeResult Honest() {
  EpisodeResult result;
  result.set_fitness(-1.0f * kLength);
  result.add_behavior_descriptor(0.25f);
  result.add_behavior_descriptor(-0.75f);
  result.set_length(kLength);
  result.set_last_chunk(true);
  return result;
}

std::vector<float> Rows(int rows, float value = 0.5f) {
  return std::vector<float>(static_cast<size_t>(rows) * kRow, value);
}

ResultCheck Check(const EpisodeResult& result, const std::vector<float>& transitions,
                  const ResultLimits& limits = MazeLimits()) {
  return ValidateEpisodeResult(limits, result, transitions).check;
}

TEST(ResultValidationTest, ApplyTaskLimitsCopiesTheSpec) {
  const ResultLimits limits = MazeLimits();
  EXPECT_EQ(limits.episode_length, 100);
  EXPECT_THAT(limits.descriptor_low, ::testing::ElementsAre(-1.0f, -1.0f));
  EXPECT_THAT(limits.descriptor_high, ::testing::ElementsAre(1.0f, 1.0f));
  EXPECT_DOUBLE_EQ(limits.min_step_reward, -common::kPointMazeRewardOffset);
  EXPECT_DOUBLE_EQ(limits.max_step_reward, 0.0);
  EXPECT_EQ(limits.transition_row_floats, common::TransitionRowSize(2, 2));
  EXPECT_EQ(MaxEpisodeTransitionBytes(limits), 100 * kRow * 4);
}

TEST(ResultValidationTest, AcceptsAnHonestResult) {
  const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), Honest(), Rows(kLength));
  EXPECT_TRUE(verdict.accepted()) << verdict.message;
  EXPECT_TRUE(verdict.message.empty());
}

TEST(ResultValidationTest, AcceptsTheBoxEdgesAndTheExtremeFitness) {
  EpisodeResult result = Honest();
  result.set_behavior_descriptor(0, -1.0f);
  result.set_behavior_descriptor(1, 1.0f);
  result.set_fitness(static_cast<float>(kLength * -common::kPointMazeRewardOffset));
  EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kAccepted);
  result.set_fitness(0.0f);
  EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kAccepted);
}

TEST(ResultValidationTest, WorkerErrorComesFirst) {
  EpisodeResult result;
  result.set_error("wrong parameter count");
  const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), result, {});
  EXPECT_EQ(verdict.check, ResultCheck::kWorkerError);
  EXPECT_EQ(verdict.message, "wrong parameter count");
}

TEST(ResultValidationTest, RefusesWrongDescriptorSize) {
  EpisodeResult result = Honest();
  result.add_behavior_descriptor(0.0f);
  const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), result, Rows(kLength));
  EXPECT_EQ(verdict.check, ResultCheck::kWrongDescriptorSize);
  EXPECT_EQ(verdict.message, "descriptor has 3 values, task has 2");
}

TEST(ResultValidationTest, RefusesDescriptorOutsideTheBoxNamingValueAndBox) {
  EpisodeResult result = Honest();
  result.set_behavior_descriptor(1, -1e30f);
  const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), result, Rows(kLength));
  EXPECT_EQ(verdict.check, ResultCheck::kDescriptorOutOfBox);
  EXPECT_THAT(verdict.message, HasSubstr("descriptor[1] = -1e+30"));
  EXPECT_THAT(verdict.message, HasSubstr("box [-1, 1]"));
  // Just past the float rounding tolerance.
  result.set_behavior_descriptor(1, 1.00001f);
  EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kDescriptorOutOfBox);
  result.set_behavior_descriptor(1, 1.0000005f);
  EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kAccepted);
}

TEST(ResultValidationTest, RefusesFitnessBeyondTheEpisodesRewardBounds) {
  EpisodeResult result = Honest();
  result.set_fitness(1e30f);
  const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), result, Rows(kLength));
  EXPECT_EQ(verdict.check, ResultCheck::kFitnessOutOfBounds);
  EXPECT_THAT(verdict.message, HasSubstr("fitness 1e+30 is above 0"));
  // 10 steps cannot lose more than 10 x 2.3431.
  result.set_fitness(-23.5f);
  EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kFitnessOutOfBounds);
  result.set_fitness(0.01f);
  EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kFitnessOutOfBounds);
}

TEST(ResultValidationTest, RefusesNonFiniteValuesUnlessDiverged) {
  for (float bad : {kNaN, kInf, -kInf}) {
    EpisodeResult result = Honest();
    result.set_fitness(bad);
    EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kNonFinite) << bad;
    result = Honest();
    result.set_behavior_descriptor(0, bad);
    EXPECT_EQ(Check(result, Rows(kLength)), ResultCheck::kNonFinite) << bad;
    std::vector<float> rows = Rows(kLength);
    rows[17] = bad;
    const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), Honest(), rows);
    EXPECT_EQ(verdict.check, ResultCheck::kNonFinite) << bad;
    EXPECT_THAT(verdict.message, HasSubstr("transition value 17"));
  }
  // Diverged episodes keep today's semantics: never inserted, so only their shape is checked.
  EpisodeResult diverged = Honest();
  diverged.set_diverged(true);
  diverged.set_fitness(kNaN);
  diverged.set_behavior_descriptor(0, 1e30f);
  diverged.set_length(0);
  EXPECT_EQ(Check(diverged, {}), ResultCheck::kAccepted);
  diverged.set_length(101);
  EXPECT_EQ(Check(diverged, {}), ResultCheck::kBadLength);
  diverged.set_length(3);
  diverged.add_behavior_descriptor(0.0f);
  EXPECT_EQ(Check(diverged, {}), ResultCheck::kWrongDescriptorSize);
}

TEST(ResultValidationTest, RefusesLengthOutsideOneToEpisodeLength) {
  EpisodeResult result = Honest();
  for (int length : {0, -1, 101, std::numeric_limits<int32_t>::max()}) {
    result.set_length(length);
    result.set_fitness(0.0f);
    const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), result, {});
    EXPECT_EQ(verdict.check, ResultCheck::kBadLength) << length;
    EXPECT_THAT(verdict.message, HasSubstr("outside [1, 100]"));
  }
  result.set_length(100);
  EXPECT_EQ(Check(result, Rows(100)), ResultCheck::kAccepted);
}

TEST(ResultValidationTest, RefusesTransitionsOfTheWrongShapeOrSize) {
  EXPECT_EQ(Check(Honest(), Rows(kLength - 1)), ResultCheck::kBadTransitions);
  EXPECT_EQ(Check(Honest(), Rows(kLength + 1)), ResultCheck::kBadTransitions);
  std::vector<float> rows = Rows(kLength);
  rows.pop_back();
  EXPECT_EQ(Check(Honest(), rows), ResultCheck::kBadTransitions);
  rows = Rows(kLength);
  rows[3] = 3e38f;
  const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), Honest(), rows);
  EXPECT_EQ(verdict.check, ResultCheck::kBadTransitions);
  EXPECT_THAT(verdict.message, HasSubstr("exceeds |v| <= 1e+06"));
  rows[3] = -1e6f;  // the bound itself is allowed
  EXPECT_EQ(Check(Honest(), rows), ResultCheck::kAccepted);
  // Transitions nobody asked for.
  ResultLimits unrequested = MazeLimits();
  unrequested.record_transitions = false;
  EXPECT_EQ(MaxEpisodeTransitionBytes(unrequested), 0);
  EXPECT_EQ(Check(Honest(), Rows(kLength), unrequested), ResultCheck::kBadTransitions);
  EXPECT_EQ(Check(Honest(), {}, unrequested), ResultCheck::kAccepted);
}

// Transition values are checked a block at a time; a bad value is found, and named by its
// index, wherever it sits (first value, inside or at the end of a block, in the tail), and the
// magnitude bound is exact on both sides.
TEST(ResultValidationTest, TransitionCheckFindsTheFirstBadValueAnywhere) {
  constexpr int kSteps = 100;  // 900 floats: 14 blocks of 64 and a tail of 4
  EpisodeResult result = Honest();
  result.set_length(kSteps);
  result.set_fitness(-1.0f * kSteps);
  const float above = std::nextafter(kMaxTransitionMagnitude, kInf);
  for (int at : {0, 1, 63, 64, 500, 895, 896, kSteps * kRow - 1}) {
    for (float bad : {kNaN, kInf, -kInf, above, -above, 3e38f}) {
      std::vector<float> rows = Rows(kSteps);
      rows[at] = bad;
      if (at + 1 < kSteps * kRow) rows[at + 1] = kNaN;  // a later bad value is not the one named
      const ResultVerdict verdict = ValidateEpisodeResult(MazeLimits(), result, rows);
      EXPECT_EQ(verdict.check,
                std::isfinite(bad) ? ResultCheck::kBadTransitions : ResultCheck::kNonFinite)
          << at << " " << bad;
      EXPECT_THAT(verdict.message, HasSubstr(absl::StrCat("transition value ", at, " ")));
    }
    std::vector<float> rows = Rows(kSteps);
    rows[at] = at % 2 == 0 ? kMaxTransitionMagnitude : -kMaxTransitionMagnitude;
    EXPECT_EQ(Check(result, rows), ResultCheck::kAccepted) << at;
  }
}

TEST(ResultValidationTest, DefaultLimitsCheckOnlyShapeAndFiniteness) {
  ResultLimits open;
  open.descriptor_dim = 2;
  open.record_transitions = true;
  EpisodeResult result = Honest();
  result.set_fitness(1e30f);
  result.set_behavior_descriptor(0, -1e30f);
  result.set_length(1 << 20);
  EXPECT_EQ(Check(result, Rows(3), open), ResultCheck::kAccepted);
  EXPECT_EQ(MaxEpisodeTransitionBytes(open), -1);
  result.set_length(0);
  EXPECT_EQ(Check(result, {}, open), ResultCheck::kBadLength);
}

TEST(ResultValidationTest, MismatchedBoxChecksTheDimensionsItHas) {
  ResultLimits limits = MazeLimits();
  limits.descriptor_low.resize(1);
  EpisodeResult result = Honest();
  result.set_behavior_descriptor(1, 5.0f);  // dimension 1 has no complete bound
  EXPECT_EQ(Check(result, Rows(kLength), limits), ResultCheck::kAccepted);
  result.set_behavior_descriptor(0, 5.0f);
  EXPECT_EQ(Check(result, Rows(kLength), limits), ResultCheck::kDescriptorOutOfBox);
}

TEST(ResultValidationTest, HugeLimitsSaturateTheByteBound) {
  ResultLimits limits;
  limits.record_transitions = true;
  limits.episode_length = std::numeric_limits<int>::max();
  limits.transition_row_floats = std::numeric_limits<int>::max();
  EXPECT_EQ(MaxEpisodeTransitionBytes(limits), std::numeric_limits<int64_t>::max());
}

TEST(ResultValidationTest, EveryCheckHasADistinctName) {
  std::set<std::string> names;
  for (int i = 0; i < kNumResultChecks; ++i) {
    const std::string name(ResultCheckName(static_cast<ResultCheck>(i)));
    EXPECT_NE(name, "unknown") << i;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kNumResultChecks));
  EXPECT_EQ(ResultCheckName(ResultCheck::kFitnessOutOfBounds), "fitness_out_of_bounds");
}

}  // namespace
}  // namespace gdaqd::server
