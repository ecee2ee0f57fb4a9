#include "worker/sim/mujoco_env.h"

#include <mujoco/mujoco.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/ant_tasks.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/sim/ant_model.h"
#include "worker/sim/mujoco_handlers.h"
#include "worker/sim/mujoco_tasks.h"
#include "worker/sim/rollout_engine.h"

namespace gdaqd::worker {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kRewardTolerance = 1e-4;  // float rounding of rewards of size ~10
constexpr absl::Duration kWaitTimeout = absl::Seconds(60);
// Torso centre's margin to a wall's surface that counts as "stayed on its side": the torso
// sphere's radius minus 5 cm of allowed soft-contact penetration.
constexpr double kTorsoClearance = 0.25 - 0.05;

// Fails the test on any MuJoCo warning it did not announce with ExpectWarnings(), as MuJoCo's
// own tests do.
class MujocoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterMujocoTasks();
    warnings_at_start_ = MujocoWarningCount();
  }
  void TearDown() override {
    EXPECT_EQ(MujocoWarningCount() - warnings_at_start_, expected_warnings_)
        << "last MuJoCo warning: " << LastMujocoWarning();
  }
  void ExpectWarnings(int64_t n) { expected_warnings_ += n; }

  static std::unique_ptr<MujocoAntEnvironment> MakeEnv(const std::string& task,
                                                       int episode_length = 0) {
    absl::StatusOr<common::TaskSpec> spec = common::GetTaskSpec(task, episode_length);
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<std::unique_ptr<MujocoAntEnvironment>> env = MujocoAntEnvironment::Create(*spec);
    EXPECT_TRUE(env.ok()) << env.status();
    return std::move(env).value();
  }

 private:
  int64_t warnings_at_start_ = 0;
  int64_t expected_warnings_ = 0;
};

// The standing pose: torso at (x, y, 0.75) upright, joints at qpos0, everything at rest.
void StandingState(double x, double y, std::vector<double>* qpos, std::vector<double>* qvel) {
  qpos->assign(common::kAntNq, 0.0);
  qvel->assign(common::kAntNv, 0.0);
  (*qpos)[0] = x;
  (*qpos)[1] = y;
  (*qpos)[2] = 0.75;
  (*qpos)[3] = 1.0;  // quaternion w
}

// Steps `env` with zero controls for `steps` control steps; returns the extreme torso
// coordinates seen (min x, max x, min y, max y).
std::array<double, 4> CoastAndTrack(MujocoAntEnvironment& env, int steps) {
  const std::vector<float> zero(common::kAntActionDim, 0.0f);
  std::vector<float> obs(common::kAntObsDim);
  common::AntState s = env.state();
  std::array<double, 4> extremes = {s.x, s.x, s.y, s.y};
  for (int t = 0; t < steps; ++t) {
    const common::StepResult step = env.Step(zero, absl::MakeSpan(obs));
    EXPECT_FALSE(step.diverged) << "step " << t;
    s = env.state();
    extremes = {std::min(extremes[0], s.x), std::max(extremes[1], s.x), std::min(extremes[2], s.y),
                std::max(extremes[3], s.y)};
  }
  return extremes;
}

TEST_F(MujocoTest, ModelHasTheAntsSizesOptionsAndActuators) {
  const char* const kActuatorJoints[] = {"hip_4", "ankle_4", "hip_1", "ankle_1",
                                         "hip_2", "ankle_2", "hip_3", "ankle_3"};
  for (const char* task : {"ant_trap", "ant_maze", "ant_omni"}) {
    SCOPED_TRACE(task);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::shared_ptr<const mjModel> model, SharedAntModel(task));
    const mjModel& m = *model;
    EXPECT_EQ(m.nq, 15);
    EXPECT_EQ(m.nv, 14);
    EXPECT_EQ(m.nu, 8);
    EXPECT_EQ(m.nbody, 14);
    EXPECT_EQ(m.ngeom,
              14 + static_cast<int>(common::AntWalls(*common::AntTaskFromName(task)).size()));
    EXPECT_EQ(m.opt.timestep, 0.01);
    EXPECT_EQ(m.opt.integrator, mjINT_RK4);
    EXPECT_NEAR(mj_getTotalmass(&m), 0.91088, 1e-4);
    for (int i = 0; i < m.nu; ++i) {
      EXPECT_STREQ(mj_id2name(&m, mjOBJ_JOINT, m.actuator_trnid[2 * i]), kActuatorJoints[i]);
      EXPECT_EQ(m.actuator_gear[6 * i], 150.0);
      EXPECT_EQ(m.actuator_ctrllimited[i], 1);
      EXPECT_EQ(m.actuator_ctrlrange[2 * i], -1.0);
      EXPECT_EQ(m.actuator_ctrlrange[2 * i + 1], 1.0);
    }
    // The second call shares the first model.
    GDAQD_ASSERT_OK_AND_ASSIGN(std::shared_ptr<const mjModel> again, SharedAntModel(task));
    EXPECT_EQ(again.get(), model.get());
  }
}

TEST_F(MujocoTest, OnlyTorsoAndLowerLegsCanTouchWalls) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::shared_ptr<const mjModel> model, SharedAntModel("ant_maze"));
  const mjModel& m = *model;
  std::vector<std::string> wall_colliders;
  for (int g = 0; g < m.ngeom; ++g) {
    const std::string name = mj_id2name(&m, mjOBJ_GEOM, g);
    if (name.rfind("wall_", 0) == 0) {
      EXPECT_EQ(m.geom_contype[g], 0) << name;
      EXPECT_EQ(m.geom_conaffinity[g], 2) << name;
    } else if (name != "floor") {
      EXPECT_EQ(m.geom_conaffinity[g], 0) << name;  // ant parts never hit each other
      EXPECT_NE(m.geom_contype[g] & 1, 0) << name;  // every part hits the floor
      if (m.geom_contype[g] & 2) wall_colliders.push_back(name);
    }
  }
  EXPECT_THAT(wall_colliders, ElementsAre("torso_geom", "left_ankle_geom", "right_ankle_geom",
                                          "third_ankle_geom", "fourth_ankle_geom"));
}

TEST_F(MujocoTest, ModelErrorsAreStatuses) {
  EXPECT_THAT(AntModelXml("ant"), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("no ant model for task 'ant'")));
  EXPECT_THAT(LoadModelFromXml("<mujoco><worldbody><geom type='nonsense'/></worldbody></mujoco>"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MJCF does not compile")));
  EXPECT_THAT(common::MakeEnvironment("point_maze", 0), ::gdaqd::testing::IsOk());
}

TEST_F(MujocoTest, RegistryBuildsAntEnvironments) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<common::Environment> env,
                             common::MakeEnvironment("ant_maze", 0));
  EXPECT_EQ(env->spec().name, "ant_maze");
  EXPECT_EQ(env->spec().episode_length, 500);
  EXPECT_NE(dynamic_cast<MujocoAntEnvironment*>(env.get()), nullptr);
}

TEST_F(MujocoTest, ResetIsAPureFunctionOfTheSeed) {
  std::unique_ptr<MujocoAntEnvironment> a = MakeEnv("ant_trap");
  std::unique_ptr<MujocoAntEnvironment> b = MakeEnv("ant_trap");
  std::vector<float> obs_a(29), obs_b(29), obs_c(29);
  a->Reset(7, absl::MakeSpan(obs_a));
  // b's mjData has history before its reset.
  b->Reset(1, absl::MakeSpan(obs_b));
  const std::vector<float> push(8, 1.0f);
  for (int t = 0; t < 5; ++t) b->Step(push, absl::MakeSpan(obs_b));
  b->Reset(7, absl::MakeSpan(obs_b));
  EXPECT_EQ(0, std::memcmp(obs_a.data(), obs_b.data(), obs_a.size() * sizeof(float)));
  b->Reset(8, absl::MakeSpan(obs_c));
  EXPECT_NE(obs_a, obs_c);
  // The torso starts at the origin, upright, at rest.
  EXPECT_EQ(a->data().qpos[0], 0.0);
  EXPECT_EQ(a->data().qpos[1], 0.0);
  EXPECT_EQ(a->data().qpos[2], 0.75);
  EXPECT_EQ(a->data().qpos[3], 1.0);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a->data().qvel[i], 0.0);
  float descriptor[2];
  a->Descriptor(absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ElementsAre(0.0f, 0.0f));
}

// Launches the standing ant from (x, y) at velocity (vx, vy) (m/s) and coasts for 2 s with zero
// controls; returns the extremes of the torso position (see CoastAndTrack()). The lower legs,
// which reach 0.57 m ahead of the torso centre, usually hit the wall first.
std::array<double, 4> Launch(MujocoAntEnvironment& env, double x, double y, double vx, double vy) {
  std::vector<double> qpos, qvel;
  StandingState(x, y, &qpos, &qvel);
  qvel[0] = vx;
  qvel[1] = vy;
  std::vector<float> obs(common::kAntObsDim);
  EXPECT_THAT(env.ResetToState(qpos, qvel, absl::MakeSpan(obs)), ::gdaqd::testing::IsOk());
  return CoastAndTrack(env, 40);
}

TEST_F(MujocoTest, TrapFrontWallStopsTheAnt) {
  constexpr double kStartX = 9.0, kSpeed = 10.0;
  // Without walls this launch carries the torso well past the wall at x = 12 ...
  std::unique_ptr<MujocoAntEnvironment> omni = MakeEnv("ant_omni");
  EXPECT_GT(Launch(*omni, kStartX, 0.0, kSpeed, 0.0)[1], 12.5 + 0.25);
  // ... with the trap, the torso stays inside the U (wall surface at x = 11.5).
  std::unique_ptr<MujocoAntEnvironment> trap = MakeEnv("ant_trap");
  const std::array<double, 4> extremes = Launch(*trap, kStartX, 0.0, kSpeed, 0.0);
  EXPECT_LT(extremes[1], 11.5 - kTorsoClearance);
}

TEST_F(MujocoTest, TrapSideWallStopsTheAnt) {
  std::unique_ptr<MujocoAntEnvironment> trap = MakeEnv("ant_trap");
  // From the trap's inside toward the +y side wall (surface at y = 2.5).
  EXPECT_LT(Launch(*trap, 9.5, 0.0, 0.0, 10.0)[3], 2.5 - kTorsoClearance);
  // From outside toward the -y side wall (surface at y = -3.5).
  EXPECT_LT(Launch(*trap, 9.5, -6.0, 0.0, 10.0)[3], -3.5 - kTorsoClearance);
}

TEST_F(MujocoTest, MazeWallsStopTheAnt) {
  std::unique_ptr<MujocoAntEnvironment> maze = MakeEnv("ant_maze");
  // The wall between start and goal: x = 20, surface at 19.5.
  EXPECT_LT(Launch(*maze, 17.0, 0.0, 10.0, 0.0)[1], 19.5 - kTorsoClearance);
  // The pocket's lid: y = 7.5 for x in [11, 19], surface at 7.0.
  EXPECT_LT(Launch(*maze, 15.0, 4.5, 0.0, 10.0)[3], 7.0 - kTorsoClearance);
  // The bottom border: y = -5, surface at -4.5.
  EXPECT_GT(Launch(*maze, 0.0, -2.0, 0.0, -10.0)[2], -4.5 + kTorsoClearance);
}

// Scripted controls: a fixed gait-like pattern, some components beyond [-1, 1].
std::vector<float> ScriptedAction(int t) {
  std::vector<float> action(common::kAntActionDim);
  for (int i = 0; i < common::kAntActionDim; ++i) {
    action[i] = 1.4f * static_cast<float>(std::sin(0.7 * t + 1.3 * i));
  }
  return action;
}

TEST_F(MujocoTest, RewardsMatchTheFormulasOnAScriptedRollout) {
  for (const char* task : {"ant_trap", "ant_maze", "ant_omni"}) {
    SCOPED_TRACE(task);
    std::unique_ptr<MujocoAntEnvironment> env = MakeEnv(task);
    std::vector<float> obs(common::kAntObsDim);
    env->Reset(0, absl::MakeSpan(obs));
    double moved = 0;
    for (int t = 0; t < 60; ++t) {
      const std::vector<float> action = ScriptedAction(t);
      const double x0 = env->data().qpos[0];
      const common::StepResult step = env->Step(action, absl::MakeSpan(obs));
      ASSERT_FALSE(step.diverged) << t;
      const double x1 = env->data().qpos[0], y1 = env->data().qpos[1];
      const double z1 = env->data().qpos[2];
      moved += std::abs(x1 - x0);
      double control_cost = 0;
      for (float a : action) control_cost += std::pow(std::clamp(a, -1.0f, 1.0f), 2);
      control_cost *= 0.5;
      double expected = 0;
      if (std::string(task) == "ant_trap") expected = (x1 - x0) / 0.05 + 1.0 - control_cost;
      if (std::string(task) == "ant_maze") expected = -std::hypot(x1 - 35.0, y1);
      if (std::string(task) == "ant_omni") expected = 1.0 - control_cost;
      EXPECT_NEAR(step.reward, expected, kRewardTolerance) << t;
      EXPECT_EQ(step.terminated, z1 < 0.2 || z1 > (std::string(task) == "ant_maze" ? 5.0 : 1.0));
      // The observation is the state after the step.
      EXPECT_EQ(obs[2], static_cast<float>(z1));
      EXPECT_EQ(obs[28], static_cast<float>(env->data().qvel[13]));
    }
    EXPECT_GT(moved, 0.05);  // the script really moves the ant
  }
}

// Every step's reward of real rollouts stays within the spec's per-step bounds, which the
// coordinator uses to refuse forged fitness values. Random policies, some with weights scaled up
// so that their actions saturate (the control cost's extreme) and the ant thrashes.
TEST_F(MujocoTest, RewardsStayWithinTheSpecBounds) {
  for (const char* task : {"ant_trap", "ant_maze", "ant_omni"}) {
    SCOPED_TRACE(task);
    std::unique_ptr<MujocoAntEnvironment> env = MakeEnv(task, 150);
    const common::TaskSpec& spec = env->spec();
    ASSERT_LT(spec.min_step_reward, spec.max_step_reward);
    const common::MlpLayout layout{
        .obs_dim = common::kAntObsDim, .hidden_sizes = {16}, .action_dim = common::kAntActionDim};
    std::vector<float> params(layout.num_params());
    common::EpisodeResult result;
    const int row = common::TransitionRowSize(spec.obs_dim, spec.action_dim);
    for (int i = 0; i < 4; ++i) {
      common::InitLecunUniform(layout, 7 + i, absl::MakeSpan(params));
      for (float& p : params) p *= static_cast<float>(1 + 3 * i);
      absl::StatusOr<common::MlpPolicy> policy = common::MlpPolicy::Create(layout, params);
      ASSERT_TRUE(policy.ok()) << policy.status();
      common::RunEpisode(*env, *policy, i, /*record_transitions=*/true, &result);
      ASSERT_FALSE(result.diverged) << "policy " << i;
      ASSERT_EQ(result.transitions.size(), static_cast<size_t>(result.length) * row);
      for (int t = 0; t < result.length; ++t) {
        const float reward = result.transitions[t * row + spec.obs_dim + spec.action_dim];
        EXPECT_GE(reward, spec.min_step_reward) << "policy " << i << " step " << t;
        EXPECT_LE(reward, spec.max_step_reward) << "policy " << i << " step " << t;
      }
      EXPECT_GE(result.fitness, result.length * spec.min_step_reward);
      EXPECT_LE(result.fitness, result.length * spec.max_step_reward);
    }
  }
}

TEST_F(MujocoTest, TerminatesWhenTheTorsoLeavesTheHealthyRange) {
  std::vector<double> qpos, qvel;
  std::vector<float> obs(common::kAntObsDim);
  const std::vector<float> zero(common::kAntActionDim, 0.0f);
  // Flipped over (upside down) and thrown up: z > 1 ends ant_trap but not ant_maze.
  StandingState(3.0, 1.0, &qpos, &qvel);
  qpos[2] = 0.95;
  qpos[3] = 0.0;
  qpos[4] = 1.0;  // quaternion (0, 1, 0, 0): 180 degrees about x
  qvel[2] = 6.0;
  std::unique_ptr<MujocoAntEnvironment> trap = MakeEnv("ant_trap");
  GDAQD_ASSERT_OK(trap->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  const common::StepResult trap_step = trap->Step(zero, absl::MakeSpan(obs));
  EXPECT_GT(trap->state().z, 1.0);
  EXPECT_TRUE(trap_step.terminated);
  std::unique_ptr<MujocoAntEnvironment> maze = MakeEnv("ant_maze");
  GDAQD_ASSERT_OK(maze->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  EXPECT_FALSE(maze->Step(zero, absl::MakeSpan(obs)).terminated);
  // Above 5 m ends ant_maze.
  qpos[2] = 6.0;
  qvel[2] = 0.0;
  GDAQD_ASSERT_OK(maze->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  EXPECT_TRUE(maze->Step(zero, absl::MakeSpan(obs)).terminated);
  // Upright at rest on the floor: healthy.
  StandingState(0.0, 0.0, &qpos, &qvel);
  GDAQD_ASSERT_OK(trap->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  EXPECT_FALSE(trap->Step(zero, absl::MakeSpan(obs)).terminated);
}

TEST_F(MujocoTest, DescriptorIsTheTorsoXyClippedToTheBox) {
  std::vector<double> qpos, qvel;
  std::vector<float> obs(common::kAntObsDim);
  float descriptor[2];
  std::unique_ptr<MujocoAntEnvironment> trap = MakeEnv("ant_trap");
  StandingState(-3.0, 9.0, &qpos, &qvel);
  GDAQD_ASSERT_OK(trap->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  trap->Descriptor(absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ElementsAre(0.0f, 8.0f));
  StandingState(35.0, -12.0, &qpos, &qvel);
  GDAQD_ASSERT_OK(trap->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  trap->Descriptor(absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ElementsAre(30.0f, -8.0f));
  StandingState(4.5, -2.25, &qpos, &qvel);
  GDAQD_ASSERT_OK(trap->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  trap->Descriptor(absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ElementsAre(4.5f, -2.25f));

  std::unique_ptr<MujocoAntEnvironment> maze = MakeEnv("ant_maze");
  StandingState(-7.0, 45.0, &qpos, &qvel);
  GDAQD_ASSERT_OK(maze->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  maze->Descriptor(absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ElementsAre(-5.0f, 40.0f));
}

TEST_F(MujocoTest, AbsurdStateDivergesAndTheNextEpisodeIsClean) {
  std::unique_ptr<MujocoAntEnvironment> env = MakeEnv("ant_trap");
  std::vector<double> qpos, qvel;
  std::vector<float> obs(common::kAntObsDim);
  StandingState(0.0, 0.0, &qpos, &qvel);
  qvel[0] = 1e12;  // beyond MuJoCo's mjMAXVAL: bad qvel
  GDAQD_ASSERT_OK(env->ResetToState(qpos, qvel, absl::MakeSpan(obs)));
  const std::vector<float> zero(common::kAntActionDim, 0.0f);
  ExpectWarnings(1);  // MuJoCo warns once per mjData reset
  EXPECT_TRUE(env->Step(zero, absl::MakeSpan(obs)).diverged);
  EXPECT_THAT(LastMujocoWarning(), HasSubstr("QVEL"));
  EXPECT_TRUE(env->Step(zero, absl::MakeSpan(obs)).diverged);  // sticky until the next reset

  // The same environment then runs a normal episode, bit-identical to a fresh one.
  std::unique_ptr<MujocoAntEnvironment> fresh = MakeEnv("ant_trap");
  std::vector<float> obs_fresh(common::kAntObsDim);
  env->Reset(3, absl::MakeSpan(obs));
  fresh->Reset(3, absl::MakeSpan(obs_fresh));
  for (int t = 0; t < 20; ++t) {
    const common::StepResult a = env->Step(ScriptedAction(t), absl::MakeSpan(obs));
    const common::StepResult b = fresh->Step(ScriptedAction(t), absl::MakeSpan(obs_fresh));
    ASSERT_FALSE(a.diverged);
    ASSERT_EQ(0, std::memcmp(&a.reward, &b.reward, sizeof(float))) << t;
    ASSERT_EQ(obs, obs_fresh) << t;
  }
}

TEST_F(MujocoTest, NonFiniteActionDiverges) {
  std::unique_ptr<MujocoAntEnvironment> env = MakeEnv("ant_omni");
  std::vector<float> obs(common::kAntObsDim);
  env->Reset(0, absl::MakeSpan(obs));
  std::vector<float> action(common::kAntActionDim, 0.0f);
  action[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(env->Step(action, absl::MakeSpan(obs)).diverged);
  env->Reset(0, absl::MakeSpan(obs));
  EXPECT_FALSE(env->Step(ScriptedAction(0), absl::MakeSpan(obs)).diverged);
}

// ----------------------------------------------------------------------------------------------
// Through the rollout engine, as the worker runs them.

std::shared_ptr<const JobContext> AntContext(const std::string& task, int episode_length) {
  auto context = std::make_shared<JobContext>();
  context->task = task;
  context->episode_length = episode_length;
  context->layout.obs_dim = common::kAntObsDim;
  context->layout.action_dim = common::kAntActionDim;
  context->layout.hidden_sizes = {16, 16};
  context->record_transitions = true;
  return context;
}

// Runs `params[i]` (seed 0) on an engine with `threads` threads; returns results and errors by
// index.
void RunOnEngine(int threads, const std::shared_ptr<const JobContext>& context,
                 const std::vector<std::vector<float>>& params,
                 std::map<int, common::EpisodeResult>* results,
                 std::map<int, absl::Status>* errors) {
  absl::Mutex mu;
  absl::Notification done;
  int received = 0;
  const int expected = static_cast<int>(params.size());
  auto engine = RolloutEngine::Create(
      threads, [&](const EpisodeJob& job, absl::StatusOr<const common::EpisodeResult*> result) {
        absl::MutexLock lock(&mu);
        if (result.ok()) {
          (*results)[job.key.index] = **result;
        } else {
          (*errors)[job.key.index] = result.status();
        }
        if (++received == expected) done.Notify();
      });
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<EpisodeJob> jobs;
  for (int i = 0; i < expected; ++i) {
    EpisodeJob job;
    job.context = context;
    job.key.index = i;
    job.seed = 0;
    job.params = params[i];
    jobs.push_back(std::move(job));
  }
  GDAQD_ASSERT_OK((*engine)->Submit(std::move(jobs)));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWaitTimeout));
}

bool SameBits(absl::Span<const float> a, absl::Span<const float> b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_F(MujocoTest, EngineResultsAreBitIdenticalOnAnyThread) {
  const auto context = AntContext("ant_trap", 80);
  std::vector<std::vector<float>> params;
  for (int i = 0; i < 6; ++i) {
    params.emplace_back(context->layout.num_params());
    common::InitLecunUniform(context->layout, 100 + i, absl::MakeSpan(params.back()));
  }
  std::map<int, common::EpisodeResult> one, two;
  std::map<int, absl::Status> errors;
  RunOnEngine(1, context, params, &one, &errors);
  RunOnEngine(2, context, params, &two, &errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(one.size(), params.size());
  ASSERT_EQ(two.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    SCOPED_TRACE(i);
    const common::EpisodeResult& a = one.at(i);
    const common::EpisodeResult& b = two.at(i);
    EXPECT_FALSE(a.diverged);
    EXPECT_GT(a.length, 0);
    EXPECT_TRUE(SameBits({&a.fitness, 1}, {&b.fitness, 1}));
    EXPECT_TRUE(SameBits(a.descriptor, b.descriptor));
    EXPECT_TRUE(SameBits(a.transitions, b.transitions));
    EXPECT_EQ(a.length, b.length);
    EXPECT_EQ(a.terminated, b.terminated);
  }
  // Different policies end in different places.
  EXPECT_FALSE(SameBits(one.at(0).descriptor, one.at(1).descriptor));
}

TEST_F(MujocoTest, EngineRejectsWrongParameterCountAndKeepsRunning) {
  const auto context = AntContext("ant_maze", 20);
  std::vector<float> good(context->layout.num_params());
  common::InitLecunUniform(context->layout, 5, absl::MakeSpan(good));
  const std::vector<float> too_long(good.size() + 3, 0.01f);
  std::map<int, common::EpisodeResult> results;
  std::map<int, absl::Status> errors;
  RunOnEngine(1, context, {good, too_long, good}, &results, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors.at(1), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("policy has 891 parameters, layout expects 888")));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results.at(0).length, 20);
  EXPECT_TRUE(SameBits({&results.at(0).fitness, 1}, {&results.at(2).fitness, 1}));
}

}  // namespace
}  // namespace gdaqd::worker
