#include "common/point_maze.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

// float32 rounding of the hand-computed positions (each a few float operations on values < 2).
constexpr float kPosTolerance = 1e-6f;

constexpr PointMazeActionMap kClip01 = PointMazeActionMap::kClip01;
constexpr PointMazeActionMap kClip1Divide10 = PointMazeActionMap::kClip1Divide10;

// Expects PointMazeStep(pos, action, map) to land on `expected` (hand-computed).
void ExpectStep(PointMazeActionMap map, std::array<float, 2> pos, std::array<float, 2> action,
                std::array<float, 2> expected) {
  const std::array<float, 2> next = PointMazeStep(pos, action, map);
  EXPECT_NEAR(next[0], expected[0], kPosTolerance)
      << PointMazeActionMapName(map) << " from (" << pos[0] << ", " << pos[1] << ") action ("
      << action[0] << ", " << action[1] << ")";
  EXPECT_NEAR(next[1], expected[1], kPosTolerance)
      << PointMazeActionMapName(map) << " from (" << pos[0] << ", " << pos[1] << ") action ("
      << action[0] << ", " << action[1] << ")";
}

// --- The action maps (research/tasks.md §1.1) ---

TEST(PointMazeStepTest, Clip01SaturatesAtOneTenth) {
  // QDax v0.1.0: clip(0.3, -0.1, 0.1) = 0.1, no division.
  ExpectStep(kClip01, {0.0f, 0.0f}, {0.3f, -0.3f}, {0.1f, -0.1f});
  ExpectStep(kClip01, {0.0f, 0.0f}, {3.0f, -7.0f}, {0.1f, -0.1f});
}

TEST(PointMazeStepTest, Clip01PassesSmallActionsUnchanged) {
  ExpectStep(kClip01, {0.0f, 0.0f}, {0.05f, -0.02f}, {0.05f, -0.02f});
}

TEST(PointMazeStepTest, Clip1Divide10ScalesActionByOneTenth) {
  // QDax >= v0.2.0: clip(0.3, -1, 1) / 10 = 0.03.
  ExpectStep(kClip1Divide10, {0.0f, 0.0f}, {0.3f, -0.3f}, {0.03f, -0.03f});
  ExpectStep(kClip1Divide10, {0.0f, 0.0f}, {0.5f, -0.3f}, {0.05f, -0.03f});
}

TEST(PointMazeStepTest, Clip1Divide10ClipsActionToUnitBoxBeforeScaling) {
  ExpectStep(kClip1Divide10, {0.0f, 0.0f}, {3.0f, -7.0f}, {0.1f, -0.1f});
}

TEST(PointMazeStepTest, Clip01HitsWallsAtFullSpeed) {
  // (0.3, -5) -> displacement (0.1, -0.1): proposed (0.6, -0.55) crosses y = -0.5 at
  // x = 0.5 * 0.1 + 0.5 = 0.55 >= -0.5, from above: stopped at the top face, x slides.
  ExpectStep(kClip01, {0.5f, -0.45f}, {0.3f, -5.0f}, {0.6f, -0.49f});
  // Under the other map the same action moves x by 0.03 only.
  ExpectStep(kClip1Divide10, {0.5f, -0.45f}, {0.3f, -5.0f}, {0.53f, -0.49f});
}

TEST(PointMazeStepTest, NanActionGivesNanPositionUnderEitherMap) {
  for (const PointMazeActionMap map : {kClip01, kClip1Divide10}) {
    const std::array<float, 2> next =
        PointMazeStep({0.0f, 0.0f}, {std::numeric_limits<float>::quiet_NaN(), 0.0f}, map);
    EXPECT_TRUE(std::isnan(next[0])) << PointMazeActionMapName(map);
    EXPECT_EQ(next[1], 0.0f) << PointMazeActionMapName(map);
    const std::array<float, 2> up =
        PointMazeStep({0.0f, 0.0f}, {0.0f, std::numeric_limits<float>::quiet_NaN()}, map);
    EXPECT_TRUE(std::isnan(up[1])) << PointMazeActionMapName(map);
  }
}

TEST(PointMazeStepTest, MapsHaveTheirConfigNames) {
  EXPECT_STREQ(PointMazeActionMapName(kClip01), "CLIP_0_1");
  EXPECT_STREQ(PointMazeActionMapName(kClip1Divide10), "CLIP_1_DIVIDE_10");
}

// --- Wall rules (research/tasks.md §1.2), written for the QDax >= v0.2.0 map ---

TEST(PointMazeStepTest, LowerWallStopsMoveFromBelowAtItsBottomFace) {
  // Crosses y = -0.5 at x = 0.5 >= -0.5.
  ExpectStep(kClip1Divide10, {0.5f, -0.55f}, {0.0f, 1.0f}, {0.5f, -0.5f});
}

TEST(PointMazeStepTest, LowerWallStopsMoveFromAboveAtItsTopFaceAndSlides) {
  // Proposed (0.52, -0.55); crosses y = -0.5 at x = 0.51; x keeps its full move.
  ExpectStep(kClip1Divide10, {0.5f, -0.45f}, {0.2f, -1.0f}, {0.52f, -0.49f});
}

TEST(PointMazeStepTest, UpperWallStopsMoveFromAboveAtItsTopFace) {
  // Crosses y = 0.2 at x = 0 <= 0.5.
  ExpectStep(kClip1Divide10, {0.0f, 0.25f}, {0.0f, -1.0f}, {0.0f, 0.21f});
}

TEST(PointMazeStepTest, UpperWallStopsMoveFromBelowAtItsBottomFace) {
  ExpectStep(kClip1Divide10, {0.0f, 0.15f}, {0.0f, 1.0f}, {0.0f, 0.2f});
}

TEST(PointMazeStepTest, StraightMovePastLowerWallEndHasNoContact) {
  // x = -0.55 < -0.5, left of the lower wall.
  ExpectStep(kClip1Divide10, {-0.55f, -0.55f}, {0.0f, 1.0f}, {-0.55f, -0.45f});
}

TEST(PointMazeStepTest, DiagonalCrossingLeftOfLowerWallEndHasNoContact) {
  // Ends above the wall (x' = -0.48) but crosses y = -0.5 at x = -0.56, left of its end.
  ExpectStep(kClip1Divide10, {-0.58f, -0.52f}, {1.0f, 1.0f}, {-0.48f, -0.42f});
}

TEST(PointMazeStepTest, DiagonalCrossingRightOfUpperWallEndHasNoContact) {
  // Ends below the wall (x' = 0.48) but crosses y = 0.2 at x = 0.53, right of its end.
  ExpectStep(kClip1Divide10, {0.58f, 0.15f}, {-1.0f, 1.0f}, {0.48f, 0.25f});
}

TEST(PointMazeStepTest, HorizontalMoveOnWallLineSkipsTheDivision) {
  // y' == y_o == -0.5: the unguarded crossing point would be 0 / 0 = NaN.
  const std::array<float, 2> on_line = PointMazeStep({0.0f, -0.5f}, {1.0f, 0.0f}, kClip1Divide10);
  EXPECT_EQ(on_line[0], 0.1f);
  EXPECT_EQ(on_line[1], -0.5f);
  // y' == y_o off the wall lines: the unguarded crossing point would be +-inf.
  const std::array<float, 2> between = PointMazeStep({0.0f, 0.0f}, {-1.0f, 0.0f}, kClip1Divide10);
  EXPECT_EQ(between[0], -0.1f);
  EXPECT_EQ(between[1], 0.0f);
}

TEST(PointMazeStepTest, ClipsPositionToArena) {
  for (const PointMazeActionMap map : {kClip01, kClip1Divide10}) {
    ExpectStep(map, {0.95f, 0.97f}, {1.0f, 1.0f}, {1.0f, 1.0f});
    ExpectStep(map, {-0.95f, -0.98f}, {-1.0f, -1.0f}, {-1.0f, -1.0f});
  }
}

TEST(PointMazeGoalTest, GoalZoneIncludesItsEdges) {
  EXPECT_TRUE(PointMazeInGoal({-0.5f, 0.8f}));
  EXPECT_TRUE(PointMazeInGoal({-0.55f, 0.75f}));
  EXPECT_TRUE(PointMazeInGoal({-0.45f, 0.85f}));
  EXPECT_TRUE(PointMazeInGoal({-0.55f, 0.85f}));
  EXPECT_FALSE(PointMazeInGoal({std::nextafter(-0.55f, -1.0f), 0.8f}));
  EXPECT_FALSE(PointMazeInGoal({std::nextafter(-0.45f, 0.0f), 0.8f}));
  EXPECT_FALSE(PointMazeInGoal({-0.45f, std::nextafter(0.85f, 1.0f)}));
  EXPECT_FALSE(PointMazeInGoal({-0.5f, std::nextafter(0.75f, 0.0f)}));
}

TEST(PointMazeGoalTest, RewardIsMinusDistanceToGoal) {
  EXPECT_NEAR(PointMazeReward({-0.5f, 0.8f}), 0.0f, kPosTolerance);
  // sqrt(1.5^2 + 1.8^2): the corner farthest from the goal, i.e. the reward offset.
  EXPECT_NEAR(PointMazeReward({1.0f, -1.0f}), -std::sqrt(5.49f), kPosTolerance);
  EXPECT_NEAR(-PointMazeReward({1.0f, -1.0f}), kPointMazeRewardOffset, 1e-4);
}

TEST(PointMazeTest, StepReportsRewardOfNewPosition) {
  PointMaze env(kPointMazeDefaultEpisodeLength, kClip1Divide10);
  std::vector<float> obs(2), next_obs(2);
  env.ResetToPosition({0.5f, -0.55f}, absl::MakeSpan(obs));
  const StepResult step = env.Step({0.0f, 1.0f}, absl::MakeSpan(next_obs));
  // Stopped by the lower wall at (0.5, -0.5): distance sqrt(1^2 + 1.3^2) to the goal.
  EXPECT_NEAR(next_obs[0], 0.5f, kPosTolerance);
  EXPECT_NEAR(next_obs[1], -0.5f, kPosTolerance);
  EXPECT_NEAR(step.reward, -std::sqrt(2.69f), kPosTolerance);
  EXPECT_FALSE(step.terminated);
  EXPECT_FALSE(step.diverged);
}

TEST(PointMazeTest, StepIntoGoalTerminates) {
  PointMaze env(kPointMazeDefaultEpisodeLength, kClip1Divide10);
  std::vector<float> obs(2), next_obs(2);
  env.ResetToPosition({-0.5f, 0.7f}, absl::MakeSpan(obs));
  const StepResult step = env.Step({0.0f, 1.0f}, absl::MakeSpan(next_obs));
  EXPECT_TRUE(step.terminated);
  EXPECT_NEAR(step.reward, 0.0f, kPosTolerance);
}

TEST(PointMazeTest, StepWithNanActionDiverges) {
  PointMaze env(kPointMazeDefaultEpisodeLength, kClip1Divide10);
  std::vector<float> obs(2), next_obs(2);
  env.ResetToPosition({0.0f, 0.0f}, absl::MakeSpan(obs));
  const StepResult step =
      env.Step({0.0f, std::numeric_limits<float>::quiet_NaN()}, absl::MakeSpan(next_obs));
  EXPECT_TRUE(step.diverged);
}

TEST(PointMazeTest, ResetIsDeterministicInSeed) {
  PointMaze env(kPointMazeDefaultEpisodeLength, kClip1Divide10);
  std::vector<float> a(2), b(2), c(2);
  env.Reset(123, absl::MakeSpan(a));
  env.Reset(123, absl::MakeSpan(b));
  env.Reset(124, absl::MakeSpan(c));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(PointMazeTest, ResetStartsBelowLowerWallInStartBox) {
  PointMaze env(kPointMazeDefaultEpisodeLength, kClip1Divide10);
  std::vector<float> obs(2), descriptor(2);
  float min_x = 1, max_x = -1, min_y = 1, max_y = -1;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    env.Reset(seed, absl::MakeSpan(obs));
    ASSERT_GE(obs[0], -0.1f);
    ASSERT_LE(obs[0], 0.1f);
    ASSERT_GE(obs[1], -1.0f);
    ASSERT_LE(obs[1], -0.7f);
    env.Descriptor(absl::MakeSpan(descriptor));
    ASSERT_EQ(descriptor, obs);
    min_x = std::min(min_x, obs[0]);
    max_x = std::max(max_x, obs[0]);
    min_y = std::min(min_y, obs[1]);
    max_y = std::max(max_y, obs[1]);
  }
  // The draws cover the box, not a corner of it.
  EXPECT_LT(min_x, -0.09f);
  EXPECT_GT(max_x, 0.09f);
  EXPECT_LT(min_y, -0.99f);
  EXPECT_GT(max_y, -0.71f);
}

TEST(PointMazeTest, DescriptorIsClippedToBox) {
  PointMaze env(kPointMazeDefaultEpisodeLength, kClip1Divide10);
  std::vector<float> obs(2), descriptor(2);
  env.ResetToPosition({1.5f, -2.0f}, absl::MakeSpan(obs));
  env.Descriptor(absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ::testing::ElementsAre(1.0f, -1.0f));
}

TEST(PointMazeSpecTest, DescribesTheTask) {
  const TaskSpec spec = PointMazeSpec(100);
  EXPECT_EQ(spec.name, "point_maze");
  EXPECT_EQ(spec.obs_dim, 2);
  EXPECT_EQ(spec.action_dim, 2);
  EXPECT_EQ(spec.descriptor_dim, 2);
  EXPECT_EQ(spec.episode_length, 100);
  EXPECT_THAT(spec.descriptor_low, ::testing::ElementsAre(-1.0f, -1.0f));
  EXPECT_THAT(spec.descriptor_high, ::testing::ElementsAre(1.0f, 1.0f));
  EXPECT_DOUBLE_EQ(spec.reward_offset, 2.3431);
}

TEST(PointMazeSpecTest, ObstaclesCoverTheTwoWalls) {
  const TaskSpec spec = PointMazeSpec(100);
  ASSERT_EQ(spec.obstacles.size(), 2u);
  const Obstacle& lower = spec.obstacles[0];
  EXPECT_NEAR(lower.x0 - lower.radius, -0.5f, kPosTolerance);
  EXPECT_NEAR(lower.x1 + lower.radius, 1.0f, kPosTolerance);
  EXPECT_NEAR(lower.y0 - lower.radius, -0.5f, kPosTolerance);
  EXPECT_NEAR(lower.y1 + lower.radius, -0.49f, kPosTolerance);
  const Obstacle& upper = spec.obstacles[1];
  EXPECT_NEAR(upper.x0 - upper.radius, -1.0f, kPosTolerance);
  EXPECT_NEAR(upper.x1 + upper.radius, 0.5f, kPosTolerance);
  EXPECT_NEAR(upper.y0 - upper.radius, 0.2f, kPosTolerance);
  EXPECT_NEAR(upper.y1 + upper.radius, 0.21f, kPosTolerance);
}

TEST(TaskRegistryTest, ZeroEpisodeLengthSelectsDefault) {
  GDAQD_ASSERT_OK_AND_ASSIGN(const TaskSpec spec, GetTaskSpec("point_maze", 0));
  EXPECT_EQ(spec.episode_length, 250);
  GDAQD_ASSERT_OK_AND_ASSIGN(const TaskSpec custom, GetTaskSpec("point_maze", 40));
  EXPECT_EQ(custom.episode_length, 40);
}

TEST(TaskRegistryTest, RejectsUnknownTask) {
  EXPECT_THAT(GetTaskSpec("ant", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unknown task 'ant' (known: point_maze, ant_trap, ant_maze, ant_omni)"));
  EXPECT_THAT(MakeEnvironment("ant", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unknown task 'ant' (known: point_maze, ant_trap, ant_maze, ant_omni)"));
}

TEST(TaskRegistryTest, RejectsNegativeEpisodeLength) {
  EXPECT_THAT(GetTaskSpec("point_maze", -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("episode_length is -1")));
  EXPECT_THAT(MakeEnvironment("point_maze", -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("episode_length is -1")));
}

TEST(TaskRegistryTest, MakesPointMaze) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Environment> env, MakeEnvironment("point_maze", 0));
  EXPECT_EQ(env->spec().name, "point_maze");
  EXPECT_EQ(env->spec().episode_length, 250);
}

// Steps the environment once with (0.3, 0.3) from the start of seed 0 (below the lower wall,
// which one step of at most 0.1 cannot reach) and returns the displacement.
std::array<float, 2> FirstDisplacement(Environment& env) {
  std::vector<float> obs(2), next(2);
  env.Reset(0, absl::MakeSpan(obs));
  env.Step({0.3f, 0.3f}, absl::MakeSpan(next));
  return {next[0] - obs[0], next[1] - obs[1]};
}

TEST(TaskRegistryTest, PointMazeDefaultsToThePapersMap) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Environment> env, MakeEnvironment("point_maze", 0));
  EXPECT_EQ(EnvironmentOptions().point_maze_action_map, kClip01);
  const std::array<float, 2> moved = FirstDisplacement(*env);
  EXPECT_NEAR(moved[0], 0.1f, kPosTolerance);
  EXPECT_NEAR(moved[1], 0.1f, kPosTolerance);
}

TEST(TaskRegistryTest, MakesPointMazeWithTheChosenMap) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Environment> old_map,
      MakeEnvironment("point_maze", 0, {.point_maze_action_map = kClip1Divide10}));
  const std::array<float, 2> moved = FirstDisplacement(*old_map);
  EXPECT_NEAR(moved[0], 0.03f, kPosTolerance);
  EXPECT_NEAR(moved[1], 0.03f, kPosTolerance);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Environment> paper_map,
                             MakeEnvironment("point_maze", 0, {.point_maze_action_map = kClip01}));
  EXPECT_NEAR(FirstDisplacement(*paper_map)[0], 0.1f, kPosTolerance);
}

TEST(PointMazeTest, StepUsesItsActionMap) {
  for (const auto& [map, expected] : {std::pair{kClip01, 0.1f}, std::pair{kClip1Divide10, 0.03f}}) {
    PointMaze env(kPointMazeDefaultEpisodeLength, map);
    EXPECT_EQ(env.action_map(), map);
    std::vector<float> obs(2), next_obs(2);
    env.ResetToPosition({0.0f, 0.0f}, absl::MakeSpan(obs));
    env.Step({0.3f, -0.3f}, absl::MakeSpan(next_obs));
    EXPECT_NEAR(next_obs[0], expected, kPosTolerance) << PointMazeActionMapName(map);
    EXPECT_NEAR(next_obs[1], -expected, kPosTolerance) << PointMazeActionMapName(map);
  }
}

}  // namespace
}  // namespace gdaqd::common
