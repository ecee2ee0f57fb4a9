#include "common/rollout.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/logging.h"
#include "common/mlp_policy.h"
#include "common/point_maze.h"
#include "common/task.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

// Rewards are sums of a few floats; compared with the double-accumulated fitness.
constexpr float kFitnessTolerance = 1e-4f;

// A 1-D counter: the state s starts at seed % 4, each step adds the action to s, rewards the new
// s and terminates once s >= terminate_at. obs = s, descriptor = 10 s (so tests can tell them
// apart). Can fake a reported divergence or a NaN observation at a given step (1 = first).
class CounterEnv final : public Environment {
 public:
  struct Options {
    int episode_length = 10;
    float terminate_at = std::numeric_limits<float>::infinity();
    int diverge_at = -1;
    int nan_obs_at = -1;
  };

  explicit CounterEnv(Options options) : options_(options) {
    spec_.name = "counter";
    spec_.obs_dim = spec_.action_dim = spec_.descriptor_dim = 1;
    spec_.episode_length = options.episode_length;
    spec_.descriptor_low = {-100.0f};
    spec_.descriptor_high = {100.0f};
  }

  const TaskSpec& spec() const override { return spec_; }

  void Reset(uint64_t seed, absl::Span<float> obs) override {
    state_ = static_cast<float>(seed % 4);
    steps_ = 0;
    obs[0] = state_;
  }

  StepResult Step(absl::Span<const float> action, absl::Span<float> next_obs) override {
    ++steps_;
    state_ += action[0];
    next_obs[0] = steps_ == options_.nan_obs_at ? std::numeric_limits<float>::quiet_NaN() : state_;
    return {.reward = state_,
            .terminated = state_ >= options_.terminate_at,
            .diverged = steps_ == options_.diverge_at};
  }

  void Descriptor(absl::Span<float> out) const override { out[0] = 10.0f * state_; }

 private:
  Options options_;
  TaskSpec spec_;
  float state_ = 0;
  int steps_ = 0;
};

// obs [1] -> action [1] = 1, whatever the observation (W = 0, b = 1, identity output).
MlpPolicy ConstantOnePolicy() {
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity};
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(layout, {0.0f, 1.0f});
  CHECK(policy.ok()) << policy.status();
  return *std::move(policy);
}

// A random 2 -> 64 -> 64 -> 2 policy for point_maze, initialised from `seed`.
MlpPolicy RandomMazePolicy(uint64_t seed) {
  const MlpLayout layout{.obs_dim = 2, .hidden_sizes = {64, 64}, .action_dim = 2};
  std::vector<float> params(layout.num_params());
  InitLecunUniform(layout, seed, absl::MakeSpan(params));
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(layout, params);
  CHECK(policy.ok()) << policy.status();
  return *std::move(policy);
}

// Expects two results to be equal bit for bit.
void ExpectBitIdentical(const EpisodeResult& a, const EpisodeResult& b) {
  EXPECT_EQ(std::memcmp(&a.fitness, &b.fitness, sizeof(float)), 0);
  EXPECT_EQ(a.length, b.length);
  EXPECT_EQ(a.terminated, b.terminated);
  EXPECT_EQ(a.diverged, b.diverged);
  ASSERT_EQ(a.descriptor.size(), b.descriptor.size());
  EXPECT_EQ(std::memcmp(a.descriptor.data(), b.descriptor.data(), a.descriptor.size() * 4), 0);
  ASSERT_EQ(a.transitions.size(), b.transitions.size());
  EXPECT_EQ(std::memcmp(a.transitions.data(), b.transitions.data(), a.transitions.size() * 4), 0);
}

TEST(TransitionRowSizeTest, IsTwoObsPlusActionPlusThree) {
  EXPECT_EQ(TransitionRowSize(2, 2), 9);
  EXPECT_EQ(TransitionRowSize(29, 8), 69);
}

TEST(RunEpisodeTest, FitnessIsSumOfRewards) {
  CounterEnv env({.episode_length = 4});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, /*seed=*/0, /*record_transitions=*/false, &result);
  // s = 1, 2, 3, 4.
  EXPECT_FLOAT_EQ(result.fitness, 10.0f);
  EXPECT_EQ(result.length, 4);
  EXPECT_FALSE(result.terminated);
  EXPECT_FALSE(result.diverged);
  EXPECT_THAT(result.descriptor, ElementsAre(40.0f));
  EXPECT_THAT(result.transitions, IsEmpty());
}

TEST(RunEpisodeTest, TerminationStopsEarly) {
  CounterEnv env({.episode_length = 10, .terminate_at = 3.0f});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, 0, false, &result);
  // The terminating step counts: s = 1, 2, 3.
  EXPECT_EQ(result.length, 3);
  EXPECT_TRUE(result.terminated);
  EXPECT_FLOAT_EQ(result.fitness, 6.0f);
  EXPECT_THAT(result.descriptor, ElementsAre(30.0f));
}

TEST(RunEpisodeTest, TransitionRowsHoldObsActionRewardNextObsDoneTruncated) {
  CounterEnv env({.episode_length = 10, .terminate_at = 4.0f});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, /*seed=*/1, true, &result);  // s0 = 1
  EXPECT_EQ(result.length, 3);
  EXPECT_THAT(result.transitions, ElementsAreArray({
                                      1.0f, 1.0f, 2.0f, 2.0f, 0.0f, 0.0f,  //
                                      2.0f, 1.0f, 3.0f, 3.0f, 0.0f, 0.0f,  //
                                      3.0f, 1.0f, 4.0f, 4.0f, 1.0f, 0.0f,  //
                                  }));
}

TEST(RunEpisodeTest, LastRowIsTruncatedAtEpisodeLength) {
  CounterEnv env({.episode_length = 2});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, 0, true, &result);
  EXPECT_THAT(result.transitions, ElementsAreArray({
                                      0.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f,  //
                                      1.0f, 1.0f, 2.0f, 2.0f, 0.0f, 1.0f,  //
                                  }));
}

TEST(RunEpisodeTest, TerminationAtLastStepIsDoneNotTruncated) {
  CounterEnv env({.episode_length = 2, .terminate_at = 2.0f});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, 0, true, &result);
  EXPECT_TRUE(result.terminated);
  ASSERT_EQ(result.transitions.size(), 12u);
  EXPECT_EQ(result.transitions[10], 1.0f);  // done
  EXPECT_EQ(result.transitions[11], 0.0f);  // truncated
}

TEST(RunEpisodeTest, ReportedDivergenceExcludesThatStep) {
  CounterEnv env({.episode_length = 10, .diverge_at = 3});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, 0, true, &result);
  EXPECT_TRUE(result.diverged);
  EXPECT_FALSE(result.terminated);
  EXPECT_EQ(result.length, 2);
  EXPECT_FLOAT_EQ(result.fitness, 3.0f);
  EXPECT_THAT(result.descriptor, ElementsAre(20.0f));
  EXPECT_EQ(result.transitions.size(), 2u * 6);
}

TEST(RunEpisodeTest, NonFiniteObservationCountsAsDivergence) {
  CounterEnv env({.episode_length = 10, .nan_obs_at = 2});
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  RunEpisode(env, policy, 0, true, &result);
  EXPECT_TRUE(result.diverged);
  EXPECT_EQ(result.length, 1);
  EXPECT_FLOAT_EQ(result.fitness, 1.0f);
  EXPECT_THAT(result.descriptor, ElementsAre(10.0f));
  EXPECT_EQ(result.transitions.size(), 6u);
}

TEST(RunEpisodeTest, ReusedResultIsResetAndKeepsItsBuffer) {
  MlpPolicy policy = ConstantOnePolicy();
  EpisodeResult result;
  CounterEnv diverging({.episode_length = 10, .diverge_at = 5});
  RunEpisode(diverging, policy, 0, true, &result);
  ASSERT_TRUE(result.diverged);
  CounterEnv plain({.episode_length = 10});
  RunEpisode(plain, policy, 0, true, &result);
  const float* buffer = result.transitions.data();
  EXPECT_FALSE(result.diverged);
  EXPECT_EQ(result.length, 10);
  EXPECT_FLOAT_EQ(result.fitness, 55.0f);
  RunEpisode(plain, policy, 0, true, &result);
  EXPECT_EQ(result.transitions.data(), buffer);
  EXPECT_EQ(result.transitions.size(), 10u * 6);
  RunEpisode(plain, policy, 0, false, &result);
  EXPECT_THAT(result.transitions, IsEmpty());
}

TEST(RunEpisodeTest, PointMazeFitnessIsSumOfRecordedRewards) {
  PointMaze env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip01);
  MlpPolicy policy = RandomMazePolicy(1);
  EpisodeResult result;
  RunEpisode(env, policy, 5, true, &result);
  const int row = TransitionRowSize(2, 2);
  ASSERT_EQ(result.transitions.size(), static_cast<size_t>(result.length) * row);
  double sum = 0;
  for (int t = 0; t < result.length; ++t) sum += result.transitions[t * row + 4];  // reward
  EXPECT_NEAR(result.fitness, sum, kFitnessTolerance);
  EXPECT_LT(result.fitness, 0.0f);
  // The descriptor is the final position, the last row's next_obs.
  const float* last = &result.transitions[static_cast<size_t>(result.length - 1) * row];
  EXPECT_THAT(result.descriptor, ElementsAre(last[5], last[6]));
}

TEST(RunEpisodeTest, PointMazeRunsFullEpisodeWithoutTermination) {
  PointMaze env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip01);
  MlpPolicy policy = RandomMazePolicy(1);
  EpisodeResult result;
  RunEpisode(env, policy, 5, true, &result);
  EXPECT_FALSE(result.terminated);
  EXPECT_EQ(result.length, kPointMazeDefaultEpisodeLength);
  EXPECT_EQ(result.transitions.size(), 250u * TransitionRowSize(2, 2));
}

TEST(RunEpisodeTest, SameSeedAndPolicyGiveBitIdenticalResult) {
  PointMaze env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip01);
  MlpPolicy policy = RandomMazePolicy(3);
  MlpPolicy copy = RandomMazePolicy(3);
  PointMaze other_env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip01);
  EpisodeResult a, b, c;
  RunEpisode(env, policy, 11, true, &a);
  RunEpisode(other_env, copy, 11, true, &b);
  ExpectBitIdentical(a, b);
  // The same instances once more, after other episodes.
  RunEpisode(env, policy, 12, true, &c);
  RunEpisode(env, policy, 11, true, &c);
  ExpectBitIdentical(a, c);
}

TEST(RunEpisodeTest, DifferentSeedsGiveDifferentEpisodes) {
  PointMaze env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip01);
  MlpPolicy policy = RandomMazePolicy(3);
  EpisodeResult a, b;
  RunEpisode(env, policy, 11, true, &a);
  RunEpisode(env, policy, 12, true, &b);
  EXPECT_NE(a.transitions, b.transitions);
  EXPECT_NE(a.fitness, b.fitness);
}

// A point_maze policy that always outputs (ax, ay) (W = 0, b = (ax, ay), identity output).
MlpPolicy ConstantMazePolicy(float ax, float ay) {
  const MlpLayout layout{.obs_dim = 2,
                         .hidden_sizes = {},
                         .action_dim = 2,
                         .output_activation = Activation::kIdentity};
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(layout, {0, 0, 0, 0, ax, ay});
  CHECK(policy.ok()) << policy.status();
  return *std::move(policy);
}

// Expects every recorded reward of `result` (an episode of `spec`) to lie within the spec's
// per-step bounds, and the fitness within length times them.
void ExpectRewardsWithinSpecBounds(const TaskSpec& spec, const EpisodeResult& result) {
  const int row = TransitionRowSize(spec.obs_dim, spec.action_dim);
  ASSERT_EQ(result.transitions.size(), static_cast<size_t>(result.length) * row);
  for (int t = 0; t < result.length; ++t) {
    const float reward = result.transitions[t * row + spec.obs_dim + spec.action_dim];
    EXPECT_GE(reward, spec.min_step_reward) << "step " << t;
    EXPECT_LE(reward, spec.max_step_reward) << "step " << t;
  }
  EXPECT_GE(result.fitness, result.length * spec.min_step_reward);
  EXPECT_LE(result.fitness, result.length * spec.max_step_reward);
}

TEST(RunEpisodeTest, PointMazeRewardsStayWithinTheSpecBounds) {
  for (const PointMazeActionMap map :
       {PointMazeActionMap::kClip01, PointMazeActionMap::kClip1Divide10}) {
    SCOPED_TRACE(PointMazeActionMapName(map));
    PointMaze env(kPointMazeDefaultEpisodeLength, map);
    ASSERT_LT(env.spec().min_step_reward, env.spec().max_step_reward);
    EpisodeResult result;
    for (uint64_t seed = 0; seed < 20; ++seed) {
      MlpPolicy policy = RandomMazePolicy(seed);
      RunEpisode(env, policy, seed, true, &result);
      ExpectRewardsWithinSpecBounds(env.spec(), result);
    }
    // Policies pinned to each corner reach the arena's extremes, the farthest points from the
    // goal.
    for (float ax : {-1.0f, 1.0f}) {
      for (float ay : {-1.0f, 1.0f}) {
        MlpPolicy policy = ConstantMazePolicy(5 * ax, 5 * ay);  // saturates under both maps
        RunEpisode(env, policy, 0, true, &result);
        ExpectRewardsWithinSpecBounds(env.spec(), result);
      }
    }
    EXPECT_GE(PointMazeReward({1.0f, -1.0f}), env.spec().min_step_reward);
    EXPECT_NEAR(PointMazeReward({1.0f, -1.0f}), env.spec().min_step_reward, 1e-4);
  }
}

// Evaluation is a pure function of (task, options, policy, seed): each map is deterministic on
// its own, and the two maps are different tasks for the same policy.
TEST(RunEpisodeTest, EachActionMapIsDeterministicAndTheMapsDiffer) {
  EpisodeResult by_map[2];
  const PointMazeActionMap maps[2] = {PointMazeActionMap::kClip01,
                                      PointMazeActionMap::kClip1Divide10};
  for (int m = 0; m < 2; ++m) {
    SCOPED_TRACE(PointMazeActionMapName(maps[m]));
    GDAQD_ASSERT_OK_AND_ASSIGN(
        std::unique_ptr<Environment> env,
        MakeEnvironment("point_maze", 0, {.point_maze_action_map = maps[m]}));
    GDAQD_ASSERT_OK_AND_ASSIGN(
        std::unique_ptr<Environment> other,
        MakeEnvironment("point_maze", 0, {.point_maze_action_map = maps[m]}));
    MlpPolicy policy = RandomMazePolicy(3);
    MlpPolicy copy = RandomMazePolicy(3);
    EpisodeResult again;
    RunEpisode(*env, policy, 11, true, &by_map[m]);
    RunEpisode(*other, copy, 11, true, &again);
    ExpectBitIdentical(by_map[m], again);
  }
  // Same start (the reset does not depend on the map), different trajectories.
  ASSERT_GE(by_map[0].transitions.size(), 2u);
  EXPECT_EQ(by_map[0].transitions[0], by_map[1].transitions[0]);
  EXPECT_EQ(by_map[0].transitions[1], by_map[1].transitions[1]);
  EXPECT_NE(by_map[0].transitions, by_map[1].transitions);
  EXPECT_NE(by_map[0].fitness, by_map[1].fitness);
}

TEST(CheckPolicyMatchesTaskTest, RejectsWrongObsOrActionDim) {
  const TaskSpec spec = PointMazeSpec(10);
  EXPECT_THAT(
      CheckPolicyMatchesTask({.obs_dim = 3, .hidden_sizes = {}, .action_dim = 2}, spec),
      StatusIs(absl::StatusCode::kInvalidArgument, "policy obs_dim is 3, task point_maze has 2"));
  EXPECT_THAT(CheckPolicyMatchesTask({.obs_dim = 2, .hidden_sizes = {}, .action_dim = 1}, spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "policy action_dim is 1, task point_maze has 2"));
  GDAQD_EXPECT_OK(
      CheckPolicyMatchesTask({.obs_dim = 2, .hidden_sizes = {}, .action_dim = 2}, spec));
}

// ---------------------------------------------------------------------------------------------
// Policy kinds and exploration (EpisodeOptions).

// FNV-1a over bytes, chained through `hash`.
uint64_t Fnv1a(const void* data, size_t size, uint64_t hash = 1469598103934665603ULL) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  return hash;
}

// Hash of an episode's transitions, fitness and descriptor, bit for bit.
uint64_t EpisodeHash(const EpisodeResult& result) {
  uint64_t hash = Fnv1a(result.transitions.data(), result.transitions.size() * sizeof(float));
  hash = Fnv1a(&result.fitness, sizeof(float), hash);
  return Fnv1a(result.descriptor.data(), result.descriptor.size() * sizeof(float), hash);
}

TEST(RunEpisodeTest, DeterministicEpisodesAreBitIdenticalToBeforePolicyKinds) {
  // Hashes of RandomMazePolicy(3), reset seed 11, recorded with the rollout code as it was before
  // policy kinds and exploration existed (same compiler and flags).
  const struct {
    PointMazeActionMap map;
    uint64_t hash;
    float fitness;
  } kGolden[] = {{PointMazeActionMap::kClip01, 0x55c7abed29c41876ULL, -0x1.d27092p+8f},
                 {PointMazeActionMap::kClip1Divide10, 0xb8c738111b2fe967ULL, -0x1.d0d706p+8f}};
  for (const auto& golden : kGolden) {
    SCOPED_TRACE(PointMazeActionMapName(golden.map));
    PointMaze env(kPointMazeDefaultEpisodeLength, golden.map);
    MlpPolicy policy = RandomMazePolicy(3);
    EpisodeResult legacy, with_options;
    RunEpisode(env, policy, 11, true, &legacy);
    RunEpisode(env, policy, EpisodeOptions(), 11, true, &with_options);
    EXPECT_EQ(legacy.length, kPointMazeDefaultEpisodeLength);
    EXPECT_EQ(legacy.fitness, golden.fitness);
    EXPECT_EQ(EpisodeHash(legacy), golden.hash);
    ExpectBitIdentical(legacy, with_options);
  }
}

TEST(EpisodeNoiseTest, MatchesThePinnedValuesInAnyOrder) {
  // The same values are pinned for docs/policy_layout.md's numpy episode_noise in
  // python/tests/test_policy.py.
  EXPECT_EQ(EpisodeNoise(7, 3, 1), -0x1.941e6ep+1f);
  EXPECT_EQ(EpisodeNoise(7, 0, 0), -0x1.766856p-2f);
  EXPECT_EQ(EpisodeNoise(7, 0, 1), 0x1.093de8p-2f);
  EXPECT_EQ(EpisodeNoise(7, 3, 0), -0x1.75528ap-2f);
  EXPECT_EQ(EpisodeNoise(0, 0, 0), -0x1.cf9fbap-2f);
  EXPECT_EQ(EpisodeNoise(~uint64_t{0}, 249, 7), -0x1.79f5d2p-2f);
}

TEST(EpisodeNoiseTest, IsStandardNormal) {
  constexpr int kSteps = 20000;
  constexpr int kComponents = 4;
  constexpr double kMomentTolerance = 0.02;  // ~4 standard errors of 80,000 draws
  double sum = 0, sum_squares = 0, max_abs = 0;
  for (int t = 0; t < kSteps; ++t) {
    for (int j = 0; j < kComponents; ++j) {
      const double x = EpisodeNoise(12345, t, j);
      sum += x;
      sum_squares += x * x;
      max_abs = std::max(max_abs, std::abs(x));
    }
  }
  const double n = kSteps * kComponents;
  EXPECT_NEAR(sum / n, 0.0, kMomentTolerance);
  EXPECT_NEAR(sum_squares / n, 1.0, kMomentTolerance);
  EXPECT_GT(max_abs, 3.5);  // tails exist
  EXPECT_LT(max_abs, 7.0);
}

// obs [1] -> action [1] = 0.5 (W = 0, b = 0.5, identity output).
MlpPolicy ConstantHalfPolicy() {
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity};
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(layout, {0.0f, 0.5f});
  CHECK(policy.ok()) << policy.status();
  return *std::move(policy);
}

// The recorded action of each row of a CounterEnv episode (obs, action, reward, next, done, trunc).
std::vector<float> RecordedActions(const EpisodeResult& result) {
  std::vector<float> actions;
  for (int t = 0; t < result.length; ++t) {
    actions.push_back(result.transitions[t * TransitionRowSize(1, 1) + 1]);
  }
  return actions;
}

TEST(RunEpisodeTest, DeterministicExplorationAddsClippedGaussianNoise) {
  CounterEnv env({.episode_length = 20});
  MlpPolicy policy = ConstantHalfPolicy();
  EpisodeResult result;
  RunEpisode(env, policy, {.noise_seed = 9, .exploration_std = 1.0f}, 0, true, &result);
  ASSERT_EQ(result.length, 20);
  const std::vector<float> actions = RecordedActions(result);
  int clipped = 0;
  for (int t = 0; t < result.length; ++t) {
    const float noisy = 0.5f + 1.0f * EpisodeNoise(9, t, 0);
    if (std::abs(noisy) > 1.0f) ++clipped;
    EXPECT_EQ(actions[t], std::clamp(noisy, -1.0f, 1.0f)) << "step " << t;
  }
  EXPECT_GT(clipped, 0);
  EXPECT_LT(clipped, 20);
  // Without a noise seed the same policy acts 0.5 every step.
  RunEpisode(env, policy, EpisodeOptions(), 0, true, &result);
  EXPECT_THAT(RecordedActions(result), ::testing::Each(0.5f));
}

// obs [1] -> mu = 0.2, rho = 0 whatever the observation (tanh-Gaussian, W = 0).
MlpPolicy ConstantGaussianPolicy() {
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity,
                         .kind = PolicyKind::kTanhGaussian};
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(layout, {0.0f, 0.0f, 0.2f, 0.0f});
  CHECK(policy.ok()) << policy.status();
  return *std::move(policy);
}

TEST(RunEpisodeTest, TanhGaussianSamplesWithTheNoiseAndEvaluatesTanhOfMean) {
  constexpr float kTolerance = 1e-6f;
  CounterEnv env({.episode_length = 10});
  MlpPolicy policy = ConstantGaussianPolicy();
  EpisodeResult result;
  RunEpisode(env, policy, {.noise_seed = 4}, 0, true, &result);
  const std::vector<float> actions = RecordedActions(result);
  ASSERT_EQ(actions.size(), 10u);
  const double sigma = std::log(2.0) + 0.001;  // softplus(0) + min_std
  for (int t = 0; t < 10; ++t) {
    EXPECT_NEAR(actions[t], std::tanh(0.2 + sigma * EpisodeNoise(4, t, 0)), kTolerance) << t;
  }
  RunEpisode(env, policy, EpisodeOptions(), 0, true, &result);
  EXPECT_THAT(RecordedActions(result),
              ::testing::Each(::testing::FloatNear(std::tanh(0.2f), kTolerance)));
}

TEST(RunEpisodeTest, SkillSelectsTheOneHotAndRowsHoldTheTaskObservation) {
  // obs 1 ++ one-hot(2) -> 1, identity: action = 0.25 for skill 0, 0.5 for skill 1.
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity,
                         .num_skills = 2};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, {0, 0.25f, 0.5f, 0}));
  CounterEnv env({.episode_length = 3});
  EpisodeResult result;
  RunEpisode(env, policy, {.skill = 1}, 0, true, &result);
  // Rows of 2 * 1 + 1 + 3 floats: s, a, r, s', done, truncated; s never includes the skill.
  EXPECT_THAT(result.transitions, ElementsAre(0, 0.5f, 0.5f, 0.5f, 0, 0,    //
                                              0.5f, 0.5f, 1, 1, 0, 0,       //
                                              1, 0.5f, 1.5f, 1.5f, 0, 1));  //
  RunEpisode(env, policy, {.skill = 0}, 0, true, &result);
  EXPECT_THAT(RecordedActions(result), ::testing::Each(0.25f));
}

// A random point_maze policy of `kind` with `num_skills` skills, initialised from `seed`.
MlpPolicy RandomMazePolicyOfKind(PolicyKind kind, int num_skills, uint64_t seed) {
  MlpLayout layout{.obs_dim = 2, .hidden_sizes = {64, 64}, .action_dim = 2};
  layout.kind = kind;
  layout.num_skills = num_skills;
  if (kind == PolicyKind::kTanhGaussian) layout.output_activation = Activation::kIdentity;
  std::vector<float> params(layout.num_params());
  InitLecunUniform(layout, seed, absl::MakeSpan(params));
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(layout, params);
  CHECK(policy.ok()) << policy.status();
  return *std::move(policy);
}

TEST(RunEpisodeTest, NoisyEpisodesArePureFunctionsOfTheirNoiseSeed) {
  const struct {
    PolicyKind kind;
    int num_skills;
    EpisodeOptions options;
    EpisodeOptions other_seed;
  } kCases[] = {
      {PolicyKind::kDeterministic,
       0,
       {.noise_seed = 5, .exploration_std = 0.1f},
       {.noise_seed = 6, .exploration_std = 0.1f}},
      {PolicyKind::kTanhGaussian, 0, {.noise_seed = 5}, {.noise_seed = 6}},
      {PolicyKind::kTanhGaussian, 5, {.skill = 3, .noise_seed = 5}, {.skill = 3, .noise_seed = 6}},
      {PolicyKind::kDeterministic,
       5,
       {.skill = 3, .noise_seed = 5, .exploration_std = 0.1f},
       {.skill = 3, .noise_seed = 6, .exploration_std = 0.1f}},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(::testing::Message()
                 << "kind " << static_cast<int>(c.kind) << " skills " << c.num_skills);
    // A fresh environment and policy, as on another worker; then the first ones again after
    // an episode of another seed.
    PointMaze env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip1Divide10);
    PointMaze other_env(kPointMazeDefaultEpisodeLength, PointMazeActionMap::kClip1Divide10);
    MlpPolicy policy = RandomMazePolicyOfKind(c.kind, c.num_skills, 3);
    MlpPolicy copy = RandomMazePolicyOfKind(c.kind, c.num_skills, 3);
    EpisodeResult a, b, other, again, evaluation;
    RunEpisode(env, policy, c.options, 11, true, &a);
    RunEpisode(other_env, copy, c.options, 11, true, &b);
    ExpectBitIdentical(a, b);
    RunEpisode(env, policy, c.other_seed, 11, true, &other);
    EXPECT_NE(a.transitions, other.transitions);
    RunEpisode(env, policy, c.options, 11, true, &again);
    ExpectBitIdentical(a, again);
    EpisodeOptions no_noise = c.options;
    no_noise.noise_seed.reset();
    no_noise.exploration_std = 0;
    RunEpisode(env, policy, no_noise, 11, true, &evaluation);
    EXPECT_NE(a.transitions, evaluation.transitions);
  }
}

TEST(CheckEpisodeOptionsTest, NamesTheBadField) {
  const MlpLayout plain{.obs_dim = 2, .hidden_sizes = {}, .action_dim = 2};
  MlpLayout skills = plain;
  skills.num_skills = 5;
  MlpLayout gaussian = plain;
  gaussian.kind = PolicyKind::kTanhGaussian;
  gaussian.output_activation = Activation::kIdentity;
  GDAQD_EXPECT_OK(CheckEpisodeOptions(plain, {}));
  GDAQD_EXPECT_OK(CheckEpisodeOptions(plain, {.noise_seed = 1, .exploration_std = 0.1f}));
  GDAQD_EXPECT_OK(CheckEpisodeOptions(skills, {.skill = 4}));
  GDAQD_EXPECT_OK(CheckEpisodeOptions(gaussian, {.noise_seed = 1}));
  const auto invalid = [](absl::string_view message) {
    return StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr(message));
  };
  EXPECT_THAT(CheckEpisodeOptions(skills, {}), invalid("skill is required for a policy with 5"));
  EXPECT_THAT(CheckEpisodeOptions(skills, {.skill = 5}), invalid("skill is 5, policy has 5"));
  EXPECT_THAT(CheckEpisodeOptions(skills, {.skill = -1}), invalid("skill is -1"));
  EXPECT_THAT(CheckEpisodeOptions(plain, {.skill = 0}), invalid("not skill-conditioned"));
  EXPECT_THAT(CheckEpisodeOptions(plain, {.exploration_std = 0.1f}),
              invalid("exploration_std is 0.1 but the episode has no noise_seed"));
  EXPECT_THAT(CheckEpisodeOptions(plain, {.noise_seed = 1}), invalid("exploration_std is 0,"));
  EXPECT_THAT(CheckEpisodeOptions(plain, {.noise_seed = 1, .exploration_std = 11}),
              invalid("must be in (0, 10]"));
  EXPECT_THAT(
      CheckEpisodeOptions(
          plain, {.noise_seed = 1, .exploration_std = std::numeric_limits<float>::quiet_NaN()}),
      invalid("exploration_std is nan"));
  EXPECT_THAT(CheckEpisodeOptions(gaussian, {.noise_seed = 1, .exploration_std = 0.1f}),
              invalid("must be 0 for a tanh-Gaussian policy"));
}

}  // namespace
}  // namespace gdaqd::common
