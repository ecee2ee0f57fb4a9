#include "common/ant_tasks.h"

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/task.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr double kTolerance = 1e-6;

TEST(AntTasksTest, SpecsHaveDimensionsBoxesOffsetsAndDefaults) {
  GDAQD_ASSERT_OK_AND_ASSIGN(const TaskSpec trap, GetTaskSpec("ant_trap", 0));
  EXPECT_EQ(trap.name, "ant_trap");
  EXPECT_EQ(trap.obs_dim, 29);
  EXPECT_EQ(trap.action_dim, 8);
  EXPECT_EQ(trap.descriptor_dim, 2);
  EXPECT_EQ(trap.episode_length, 250);
  EXPECT_THAT(trap.descriptor_low, ElementsAre(0.0f, -8.0f));
  EXPECT_THAT(trap.descriptor_high, ElementsAre(30.0f, 8.0f));
  EXPECT_DOUBLE_EQ(trap.reward_offset, 3.38);
  EXPECT_EQ(trap.obstacles.size(), 3u);

  GDAQD_ASSERT_OK_AND_ASSIGN(const TaskSpec maze, GetTaskSpec("ant_maze", 0));
  EXPECT_EQ(maze.episode_length, 500);
  EXPECT_THAT(maze.descriptor_low, ElementsAre(-5.0f, -5.0f));
  EXPECT_THAT(maze.descriptor_high, ElementsAre(40.0f, 40.0f));
  EXPECT_DOUBLE_EQ(maze.reward_offset, 40.32);
  EXPECT_EQ(maze.obstacles.size(), 7u);

  GDAQD_ASSERT_OK_AND_ASSIGN(const TaskSpec omni, GetTaskSpec("ant_omni", 120));
  EXPECT_EQ(omni.episode_length, 120);
  EXPECT_THAT(omni.descriptor_low, ElementsAre(-30.0f, -30.0f));
  EXPECT_THAT(omni.descriptor_high, ElementsAre(30.0f, 30.0f));
  EXPECT_DOUBLE_EQ(omni.reward_offset, 3.0);
  EXPECT_TRUE(omni.obstacles.empty());
}

TEST(AntTasksTest, TrapWallsFormAClosedU) {
  const absl::Span<const Obstacle> walls = AntWalls(AntTask::kTrap);
  ASSERT_EQ(walls.size(), 3u);
  // Closing wall at x = 12 from y = -2 to 2; its caps touch the side walls' caps at y = +-2.5.
  EXPECT_EQ(walls[0].x0, 12.0f);
  EXPECT_EQ(walls[0].x1, 12.0f);
  EXPECT_EQ(walls[0].y0, -2.0f);
  EXPECT_EQ(walls[0].y1, 2.0f);
  for (const Obstacle& wall : walls) EXPECT_EQ(wall.radius, 0.5f);
  EXPECT_EQ(walls[1].y0 - walls[1].radius, walls[0].y1 + walls[0].radius);
}

TEST(AntTasksTest, NamesRoundTrip) {
  for (AntTask task : {AntTask::kTrap, AntTask::kMaze, AntTask::kOmni}) {
    EXPECT_EQ(AntTaskFromName(AntTaskName(task)), task);
  }
  EXPECT_EQ(AntTaskFromName("ant"), std::nullopt);
  EXPECT_EQ(AntTaskFromName("point_maze"), std::nullopt);
}

TEST(AntTasksTest, UnknownTaskListsEveryTask) {
  EXPECT_THAT(GetTaskSpec("humanoid", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unknown task 'humanoid' (known: point_maze, ant_trap, ant_maze, "
                       "ant_omni)"));
}

TEST(AntTasksTest, MakeEnvironmentWithoutSimulatorFailsClearly) {
  // This test binary registers no factory for ant_trap.
  EXPECT_THAT(MakeEnvironment("ant_trap", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "task 'ant_trap' needs the MuJoCo simulator, which this program does not "
                       "link"));
}

// A do-nothing environment that remembers the spec it was built with.
class FakeEnvironment final : public Environment {
 public:
  FakeEnvironment(const TaskSpec& spec, int tag) : spec_(spec), tag_(tag) {}
  const TaskSpec& spec() const override { return spec_; }
  void Reset(uint64_t, absl::Span<float>) override {}
  StepResult Step(absl::Span<const float>, absl::Span<float>) override { return {}; }
  void Descriptor(absl::Span<float>) const override {}
  int tag() const { return tag_; }

 private:
  TaskSpec spec_;
  int tag_;
};

EnvironmentFactory FakeFactory(int tag) {
  return [tag](const TaskSpec& spec) -> absl::StatusOr<std::unique_ptr<Environment>> {
    return std::make_unique<FakeEnvironment>(spec, tag);
  };
}

TEST(AntTasksTest, RegisteredFactoryGetsTheSpecAndFirstRegistrationWins) {
  RegisterEnvironmentFactory("ant_omni", FakeFactory(1));
  RegisterEnvironmentFactory("ant_omni", FakeFactory(2));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Environment> env, MakeEnvironment("ant_omni", 0));
  EXPECT_EQ(env->spec().name, "ant_omni");
  EXPECT_EQ(env->spec().episode_length, 250);
  EXPECT_EQ(static_cast<FakeEnvironment&>(*env).tag(), 1);
  EXPECT_THAT(MakeEnvironment("ant_omni", -3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("episode_length is -3")));
}

// qpos = 0.01 * (i + 1) except the torso position, qvel = -0.1 * (i + 1).
void MakeState(double x, double y, double z, std::vector<double>* qpos, std::vector<double>* qvel) {
  qpos->assign(kAntNq, 0.0);
  qvel->assign(kAntNv, 0.0);
  for (int i = 0; i < kAntNq; ++i) (*qpos)[i] = 0.01 * (i + 1);
  for (int i = 0; i < kAntNv; ++i) (*qvel)[i] = -0.1 * (i + 1);
  (*qpos)[0] = x;
  (*qpos)[1] = y;
  (*qpos)[2] = z;
}

TEST(AntTasksTest, ObservationIsNormalisedXyThenGymnasiumLayout) {
  std::vector<double> qpos, qvel;
  MakeState(21.0, -4.0, 0.6, &qpos, &qvel);
  std::vector<float> obs(kAntObsDim);
  AntObservation(AntTask::kTrap, qpos, qvel, absl::MakeSpan(obs));
  EXPECT_FLOAT_EQ(obs[0], (21.0f - 15.0f) / 15.0f);
  EXPECT_FLOAT_EQ(obs[1], -4.0f / 8.0f);
  for (int i = 2; i < kAntNq; ++i) EXPECT_EQ(obs[i], static_cast<float>(qpos[i])) << i;
  for (int i = 0; i < kAntNv; ++i) EXPECT_EQ(obs[kAntNq + i], static_cast<float>(qvel[i])) << i;

  AntObservation(AntTask::kMaze, qpos, qvel, absl::MakeSpan(obs));
  EXPECT_FLOAT_EQ(obs[0], (21.0f - 17.5f) / 22.5f);
  EXPECT_FLOAT_EQ(obs[1], (-4.0f - 17.5f) / 22.5f);
  AntObservation(AntTask::kOmni, qpos, qvel, absl::MakeSpan(obs));
  EXPECT_FLOAT_EQ(obs[0], 21.0f / 30.0f);
  EXPECT_FLOAT_EQ(obs[1], -4.0f / 30.0f);
}

TEST(AntTasksTest, StateFromObservationInvertsTheNormalisation) {
  std::vector<double> qpos, qvel;
  MakeState(21.0, -4.0, 0.6, &qpos, &qvel);
  std::vector<float> obs(kAntObsDim);
  for (AntTask task : {AntTask::kTrap, AntTask::kMaze, AntTask::kOmni}) {
    AntObservation(task, qpos, qvel, absl::MakeSpan(obs));
    const AntState state = AntStateFromObservation(task, obs);
    EXPECT_NEAR(state.x, 21.0, 1e-5) << AntTaskName(task);
    EXPECT_NEAR(state.y, -4.0, 1e-5) << AntTaskName(task);
    EXPECT_NEAR(state.z, 0.6, 1e-6) << AntTaskName(task);
  }
}

TEST(AntTasksTest, TrapRewardIsForwardVelocityPlusSurvivalMinusControlCost) {
  const AntState before{1.0, 0.5, 0.55};
  const AntState after{1.1, 0.7, 0.56};
  // Components beyond [-1, 1] are clipped before the cost: 0.25 + 1 + 1 + 0 + 0.01 + 0 + 0 + 0.
  const std::vector<float> action = {0.5f, 2.0f, -3.0f, 0.0f, 0.1f, 0.0f, 0.0f, 0.0f};
  const double control_cost = 0.5 * (0.25 + 1.0 + 1.0 + 0.01);
  EXPECT_NEAR(AntReward(AntTask::kTrap, before, after, action),
              (1.1 - 1.0) / 0.05 + 1.0 - control_cost, kTolerance);
  EXPECT_NEAR(AntReward(AntTask::kOmni, before, after, action), 1.0 - control_cost, kTolerance);
}

TEST(AntTasksTest, MazeRewardIsMinusDistanceToGoal) {
  const std::vector<float> action(kAntActionDim, 1.0f);  // ignored
  EXPECT_NEAR(AntReward(AntTask::kMaze, {0, 0, 0.5}, {32.0, 4.0, 0.5}, action), -5.0, kTolerance);
  EXPECT_NEAR(AntReward(AntTask::kMaze, {0, 0, 0.5}, {0.0, 0.0, 0.5}, action), -35.0, kTolerance);
}

TEST(AntTasksTest, NonFiniteActionGivesNonFiniteReward) {
  std::vector<float> action(kAntActionDim, 0.0f);
  action[3] = kNan;
  EXPECT_TRUE(std::isnan(AntReward(AntTask::kTrap, {}, {}, action)));
}

TEST(AntTasksTest, TerminationEdges) {
  for (AntTask task : {AntTask::kTrap, AntTask::kOmni}) {
    EXPECT_FALSE(AntTerminated(task, {0, 0, 0.2}));
    EXPECT_FALSE(AntTerminated(task, {0, 0, 1.0}));
    EXPECT_TRUE(AntTerminated(task, {0, 0, 0.19}));
    EXPECT_TRUE(AntTerminated(task, {0, 0, 1.01}));
    EXPECT_TRUE(AntTerminated(task, {0, 0, std::nan("")}));
  }
  EXPECT_FALSE(AntTerminated(AntTask::kMaze, {0, 0, 0.2}));
  EXPECT_FALSE(AntTerminated(AntTask::kMaze, {0, 0, 4.9}));
  EXPECT_TRUE(AntTerminated(AntTask::kMaze, {0, 0, 0.19}));
  EXPECT_TRUE(AntTerminated(AntTask::kMaze, {0, 0, 5.01}));
}

TEST(AntTasksTest, DescriptorIsClippedToTheBox) {
  float out[2];
  AntDescriptor(AntTask::kTrap, {-3.0, 9.5, 0.5}, absl::MakeSpan(out));
  EXPECT_THAT(out, ElementsAre(0.0f, 8.0f));
  AntDescriptor(AntTask::kTrap, {31.0, -100.0, 0.5}, absl::MakeSpan(out));
  EXPECT_THAT(out, ElementsAre(30.0f, -8.0f));
  AntDescriptor(AntTask::kTrap, {4.25, -1.5, 0.5}, absl::MakeSpan(out));
  EXPECT_THAT(out, ElementsAre(4.25f, -1.5f));
  AntDescriptor(AntTask::kMaze, {-6.0, 41.0, 0.5}, absl::MakeSpan(out));
  EXPECT_THAT(out, ElementsAre(-5.0f, 40.0f));
  AntDescriptor(AntTask::kOmni, {-31.0, 30.0, 0.5}, absl::MakeSpan(out));
  EXPECT_THAT(out, ElementsAre(-30.0f, 30.0f));
  AntDescriptor(AntTask::kOmni, {std::nan(""), 1.0, 0.5}, absl::MakeSpan(out));
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_THAT(out[1], FloatEq(1.0f));
}

}  // namespace
}  // namespace gdaqd::common
