// Imagination against the real simulator: with a perfect dynamics model (PointMaze's own step
// function behind the GroupedDynamics interface), imagined rollouts must reproduce the real
// episodes of the same policies, whatever member each rollout is assigned to.
#include "server/models/imagination.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/point_maze.h"
#include "common/rollout.h"
#include "common/task.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/critic_learner.h"
#include "server/algorithms/imagined_task.h"
#include "server/algorithms/map_elites.h"
#include "server/models/batched_policy.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using testing::StatusIs;

// The map of both the real environment and the perfect model below (the default, the paper's).
constexpr common::PointMazeActionMap kMap = common::PointMazeActionMap::kClip01;

// PointMaze's exact dynamics for E identical members; member `nan_member` (if >= 0) predicts NaN.
class PointMazeDynamics final : public models::GroupedDynamics {
 public:
  explicit PointMazeDynamics(int members, int nan_member = -1)
      : members_(members), nan_member_(nan_member) {}
  int obs_dim() const override { return 2; }
  int action_dim() const override { return 2; }
  int members() const override { return members_; }
  torch::Device device() const override { return torch::kCPU; }
  absl::StatusOr<torch::Tensor> PredictGrouped(const torch::Tensor& obs,
                                               const torch::Tensor& actions, bool /*sample*/,
                                               c10::optional<at::Generator>) const override {
    const torch::Tensor o = obs.contiguous();
    const torch::Tensor a = actions.contiguous();
    torch::Tensor next = torch::empty_like(o);
    const int64_t per_member = o.size(1);
    const float* op = o.data_ptr<float>();
    const float* ap = a.data_ptr<float>();
    float* np = next.data_ptr<float>();
    for (int64_t r = 0; r < o.size(0) * per_member; ++r) {
      const std::array<float, 2> pos =
          common::PointMazeStep({op[2 * r], op[2 * r + 1]}, {ap[2 * r], ap[2 * r + 1]}, kMap);
      const bool poisoned = r / per_member == nan_member_;
      np[2 * r] = poisoned ? std::numeric_limits<float>::quiet_NaN() : pos[0];
      np[2 * r + 1] = pos[1];
    }
    return next;
  }

 private:
  int members_;
  int nan_member_;
};

// PointMaze's exact dynamics that raises `flag` during its `raise_at`-th prediction and counts
// its predictions (one per imagined step).
class InterruptingDynamics final : public models::GroupedDynamics {
 public:
  InterruptingDynamics(std::atomic<bool>* flag, int raise_at)
      : inner_(/*members=*/2), flag_(flag), raise_at_(raise_at) {}
  int obs_dim() const override { return inner_.obs_dim(); }
  int action_dim() const override { return inner_.action_dim(); }
  int members() const override { return inner_.members(); }
  torch::Device device() const override { return inner_.device(); }
  absl::StatusOr<torch::Tensor> PredictGrouped(
      const torch::Tensor& obs, const torch::Tensor& actions, bool sample,
      c10::optional<at::Generator> generator) const override {
    if (++calls_ == raise_at_) flag_->store(true);
    return inner_.PredictGrouped(obs, actions, sample, generator);
  }
  int calls() const { return calls_; }

 private:
  PointMazeDynamics inner_;
  std::atomic<bool>* flag_;
  int raise_at_;
  mutable int calls_ = 0;
};

class ImaginationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = common::ParseExperimentConfig(R"pb(
      env { task: "point_maze" episode_length: 250 }
      budget { max_evaluations: 10 }
    )pb");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    GDAQD_ASSERT_OK_AND_ASSIGN(layout_, common::PolicyLayout(config_.env(), config_.policy()));
    GDAQD_ASSERT_OK_AND_ASSIGN(spec_, common::GetTaskSpec("point_maze", 250));
    GDAQD_ASSERT_OK_AND_ASSIGN(task_, MakeImaginedTask(spec_));
    uint64_t drawn = 0;
    RandomPolicies(layout_, /*seed=*/11, kPolicies, &drawn, &params_);
    // Push half the networks towards saturated actions so some reach walls and the goal region.
    for (size_t i = 0; i < params_.size() / 2; ++i) params_[i] *= 4;
  }

  // The real episode of policy i from the fixed start.
  common::EpisodeResult RealEpisode(int i) {
    auto env = common::MakeEnvironment("point_maze", 250, {.point_maze_action_map = kMap});
    EXPECT_TRUE(env.ok());
    const int64_t n = layout_.num_params();
    auto policy =
        common::MlpPolicy::Create(layout_, absl::MakeConstSpan(params_).subspan(i * n, n));
    EXPECT_TRUE(policy.ok());
    common::EpisodeResult result;
    common::RunEpisode(**env, *policy, /*seed=*/0, /*record_transitions=*/false, &result);
    return result;
  }

  // A request for the fixture's policies starting at `start`, rollout i on member `members[i]`
  // (spans: both vectors must outlive the request).
  models::ImaginationRequest Request(absl::Span<const int32_t> members,
                                     absl::Span<const float> start, int episode_length) {
    models::ImaginationRequest request;
    request.shape = MakePolicyShape(config_, layout_);
    request.params = params_;
    request.member = members;
    request.initial_obs = start;
    request.episode_length = episode_length;
    return request;
  }

  std::vector<float> StartObservation() {
    auto env = common::MakeEnvironment("point_maze", 250, {.point_maze_action_map = kMap});
    EXPECT_TRUE(env.ok());
    std::vector<float> obs(2);
    (*env)->Reset(0, absl::MakeSpan(obs));
    return obs;
  }

  static constexpr int kPolicies = 24;
  gdaqd::v1::ExperimentConfig config_;
  common::MlpLayout layout_;
  common::TaskSpec spec_;
  std::unique_ptr<models::ImaginedTask> task_;
  std::vector<float> params_;
};

TEST_F(ImaginationTest, PerfectModelReproducesRealPointMazeEpisodes) {
  const PointMazeDynamics model(/*members=*/3);
  // Uneven groups: member 0 gets most rollouts, member 2 one.
  std::vector<int32_t> members(kPolicies, 0);
  for (int i = 0; i < kPolicies; ++i) members[i] = i % 5 == 0 ? 1 : (i == 7 ? 2 : 0);
  const std::vector<float> start = StartObservation();
  models::ImaginationRequest request = Request(members, start, 250);
  GDAQD_ASSERT_OK_AND_ASSIGN(models::ImaginedEpisodes imagined,
                             models::ImagineEpisodes(model, *task_, request, c10::nullopt));
  int terminated_early = 0;
  for (int i = 0; i < kPolicies; ++i) {
    const common::EpisodeResult real = RealEpisode(i);
    SCOPED_TRACE(i);
    EXPECT_EQ(imagined.diverged[i], 0);
    // The batched torch forward and the worker's Eigen forward agree to ~1e-6 per action.
    EXPECT_EQ(imagined.steps[i], real.length);
    EXPECT_NEAR(imagined.fitness[i], real.fitness, 1e-3 * (1 + std::abs(real.fitness)));
    EXPECT_NEAR(imagined.descriptors[2 * i], real.descriptor[0], 1e-4);
    EXPECT_NEAR(imagined.descriptors[2 * i + 1], real.descriptor[1], 1e-4);
    terminated_early += real.length < 250 ? 1 : 0;
  }
  // The fixture's policies are varied enough that the comparison means something.
  float lo = imagined.fitness[0], hi = imagined.fitness[0];
  for (float f : imagined.fitness) lo = std::min(lo, f), hi = std::max(hi, f);
  EXPECT_GT(hi - lo, 10.0f);
  (void)terminated_early;
}

// A task whose every step terminates: with request.terminate each rollout lasts one step,
// without it (the model-based algorithms' default, model.terminate_imagined) episode_length.
class AlwaysTerminates final : public models::ImaginedTask {
 public:
  explicit AlwaysTerminates(const models::ImaginedTask& inner) : inner_(inner) {}
  int descriptor_dim() const override { return inner_.descriptor_dim(); }
  void Step(absl::Span<const float> obs, absl::Span<const float> actions,
            absl::Span<const float> next_obs, absl::Span<float> reward,
            absl::Span<uint8_t> terminated) const override {
    inner_.Step(obs, actions, next_obs, reward, terminated);
    std::fill(terminated.begin(), terminated.end(), 1);
  }
  void Descriptor(absl::Span<const float> obs, absl::Span<float> out) const override {
    inner_.Descriptor(obs, out);
  }

 private:
  const models::ImaginedTask& inner_;
};

TEST_F(ImaginationTest, TerminationIsFollowedOnlyWhenAsked) {
  const PointMazeDynamics model(/*members=*/1);
  const std::vector<int32_t> members(kPolicies, 0);
  const std::vector<float> start = StartObservation();
  const AlwaysTerminates task(*task_);
  models::ImaginationRequest request = Request(members, start, 40);
  GDAQD_ASSERT_OK_AND_ASSIGN(models::ImaginedEpisodes stopped,
                             models::ImagineEpisodes(model, task, request, c10::nullopt));
  request.terminate = false;
  GDAQD_ASSERT_OK_AND_ASSIGN(models::ImaginedEpisodes full,
                             models::ImagineEpisodes(model, task, request, c10::nullopt));
  for (int i = 0; i < kPolicies; ++i) {
    EXPECT_EQ(stopped.steps[i], 1) << i;
    EXPECT_EQ(full.steps[i], 40) << i;
  }
}

TEST_F(ImaginationTest, ResultsDoNotDependOnMemberGrouping) {
  const PointMazeDynamics model(/*members=*/4);
  const std::vector<float> start = StartObservation();
  models::ImaginationRequest request = Request({}, start, 100);
  std::vector<int32_t> all_zero(kPolicies, 0), spread(kPolicies);
  for (int i = 0; i < kPolicies; ++i) spread[i] = (i * 7) % 4;
  request.member = all_zero;
  GDAQD_ASSERT_OK_AND_ASSIGN(models::ImaginedEpisodes a,
                             models::ImagineEpisodes(model, *task_, request, c10::nullopt));
  request.member = spread;
  GDAQD_ASSERT_OK_AND_ASSIGN(models::ImaginedEpisodes b,
                             models::ImagineEpisodes(model, *task_, request, c10::nullopt));
  EXPECT_EQ(a.fitness, b.fitness);
  EXPECT_EQ(a.descriptors, b.descriptors);
  EXPECT_EQ(a.steps, b.steps);
}

TEST_F(ImaginationTest, NonFinitePredictionsFlagOnlyTheirRollouts) {
  const PointMazeDynamics model(/*members=*/2, /*nan_member=*/1);
  const std::vector<float> start = StartObservation();
  std::vector<int32_t> members(kPolicies);
  for (int i = 0; i < kPolicies; ++i) members[i] = i % 2;
  models::ImaginationRequest request = Request(members, start, 50);
  GDAQD_ASSERT_OK_AND_ASSIGN(models::ImaginedEpisodes out,
                             models::ImagineEpisodes(model, *task_, request, c10::nullopt));
  for (int i = 0; i < kPolicies; ++i) {
    EXPECT_EQ(out.diverged[i], i % 2) << i;
    if (i % 2 == 1) {
      EXPECT_EQ(out.steps[i], 1) << i;
    } else {
      EXPECT_TRUE(std::isfinite(out.fitness[i])) << i;
    }
  }
}

TEST_F(ImaginationTest, InterruptStopsTheRolloutsBeforeTheNextStep) {
  std::atomic<bool> interrupt{false};
  const InterruptingDynamics model(&interrupt, /*raise_at=*/3);
  const std::vector<float> start = StartObservation();
  std::vector<int32_t> members(kPolicies);
  for (int i = 0; i < kPolicies; ++i) members[i] = i % 2;
  models::ImaginationRequest request = Request(members, start, 250);
  request.interrupt = &interrupt;
  EXPECT_THAT(models::ImagineEpisodes(model, *task_, request, c10::nullopt),
              StatusIs(absl::StatusCode::kCancelled, ::testing::HasSubstr("imagination")));
  EXPECT_EQ(model.calls(), 3);  // the step that raised the flag was the last one
}

TEST_F(ImaginationTest, RejectsBadRequestsNamingTheProblem) {
  const PointMazeDynamics model(/*members=*/2);
  const std::vector<float> start = StartObservation();
  std::vector<int32_t> members(kPolicies, 0);
  members[5] = 2;
  models::ImaginationRequest request = Request(members, start, 10);
  EXPECT_THAT(models::ImagineEpisodes(model, *task_, request, c10::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("member[5]")));
  members[5] = 0;
  request.params = absl::MakeConstSpan(params_).subspan(1);
  EXPECT_THAT(models::ImagineEpisodes(model, *task_, request, c10::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("params")));
  request.params = params_;
  const std::vector<float> bad_start = {0.0f, std::nanf("")};
  request.initial_obs = bad_start;
  EXPECT_THAT(models::ImagineEpisodes(model, *task_, request, c10::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("initial_obs")));
}

TEST(ImaginedTaskTest, PointMazeRewardTerminationAndDescriptorMatchTheEnvironment) {
  GDAQD_ASSERT_OK_AND_ASSIGN(common::TaskSpec spec, common::GetTaskSpec("point_maze", 0));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto task, MakeImaginedTask(spec));
  const std::vector<float> obs = {0.0f, 0.0f, -0.5f, 0.7f};
  const std::vector<float> next = {0.1f, -0.2f, -0.5f, 0.8f};  // second one in the goal
  const std::vector<float> actions(4, 0.0f);
  std::vector<float> reward(2);
  std::vector<uint8_t> done(2);
  task->Step(obs, actions, next, absl::MakeSpan(reward), absl::MakeSpan(done));
  EXPECT_FLOAT_EQ(reward[0], common::PointMazeReward({0.1f, -0.2f}));
  EXPECT_EQ(done[0], 0);
  EXPECT_EQ(done[1], 1);
  std::vector<float> descriptor(4);
  task->Descriptor(std::vector<float>{3.0f, -0.5f, -2.0f, 0.25f}, absl::MakeSpan(descriptor));
  EXPECT_THAT(descriptor, ::testing::ElementsAre(1.0f, -0.5f, -1.0f, 0.25f));
}

TEST(ImaginedTaskTest, EveryTaskHasObservationLevelFunctions) {
  for (const char* name : {"point_maze", "ant_trap", "ant_maze", "ant_omni"}) {
    GDAQD_ASSERT_OK_AND_ASSIGN(common::TaskSpec spec, common::GetTaskSpec(name, 0));
    EXPECT_TRUE(MakeImaginedTask(spec).ok()) << name;
  }
}

}  // namespace
}  // namespace gdaqd::server
