#include "server/models/sac.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/models/batched_policy.h"
#include "server/models/checkpoint_surgery_for_test.h"
#include "server/models/errors.h"
#include "server/models/torch_util.h"
#include "tests/testing/status_matchers.h"

// The standalone build (server/models/standalone, against an upstream LibTorch) has no common/
// library: the one test that compares with the worker's forward pass is left out there.
#ifndef GDAQD_MODELS_STANDALONE
#include "common/mlp_policy.h"
#endif

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

// float32 forward passes against double hand computations.
constexpr double kTolerance = 1e-4;
// The learner's actor vs. the worker's Eigen forward pass (float rounding only).
constexpr float kLayoutTolerance = 1e-5f;

SacConfig TinyConfig() {
  SacConfig config;
  config.policy_hidden = {16};
  config.critic_hidden = {16};
  config.batch_size = 32;
  config.device = "cpu";
  config.seed = 1;
  return config;
}

std::unique_ptr<Sac> MakeSac(const SacConfig& config, int obs_dim, int action_dim,
                             std::vector<float> actor = {}) {
  SetTorchThreads(1);  // deterministic and fair on the shared 2-core machines
  absl::StatusOr<std::unique_ptr<Sac>> sac = Sac::Create(config, obs_dim, action_dim, actor);
  EXPECT_TRUE(sac.ok()) << sac.status();
  return sac.ok() ? *std::move(sac) : nullptr;
}

// A linear actor (policy_hidden {}) for obs_dim 1, action_dim 1 whose output ignores the
// observation: mu = `mu`, rho = `rho`. Flat layout W [1, 2] then b [2].
std::vector<float> ConstantActor(float mu, float rho) { return {0.0f, 0.0f, mu, rho}; }

double Softplus(double x) { return std::log1p(std::exp(x)); }

// log pi(tanh(u)) of one component by hand, in double: Gaussian density of u, minus
// log(1 - tanh(u)^2) (the change of variables a = tanh(u)).
double HandLogProb(double mu, double std, double eps) {
  const double u = mu + std * eps;
  const double t = std::tanh(u);
  return -0.5 * eps * eps - std::log(std) - 0.5 * std::log(2 * M_PI) - std::log(1 - t * t);
}

// Sets every weight of a twin critic to 0 and the output biases to (q1, q2): Q_k(s, a) = q_k.
void SetConstantCritic(BatchedPolicies& critic, float q1, float q2) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& w : critic.weights()) w.zero_();
  for (const torch::Tensor& b : critic.biases()) b.zero_();
  critic.biases().back()[0].fill_(q1);
  critic.biases().back()[1].fill_(q2);
}

std::vector<float> Flat(const BatchedPolicies& net) {
  absl::StatusOr<std::vector<float>> flat = net.ToFlat();
  EXPECT_TRUE(flat.ok()) << flat.status();
  return flat.ok() ? *flat : std::vector<float>{};
}

// Uniform sampling with replacement from `dataset` with its own seeded generator.
SampleFn MakeSampler(std::vector<float> dataset, int64_t width, uint64_t seed) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  auto data = std::make_shared<std::vector<float>>(std::move(dataset));
  return [rng, data, width](int64_t n, std::vector<float>* rows) {
    std::uniform_int_distribution<int64_t> pick(0, static_cast<int64_t>(data->size()) / width - 1);
    rows->clear();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = pick(*rng);
      rows->insert(rows->end(), data->begin() + r * width, data->begin() + (r + 1) * width);
    }
  };
}

// One-step bandit on obs_dim 1, action_dim 1: every row ends its episode, the reward peaks at
// a = 0.5. Rows [obs, action, reward, next_obs, done, truncated].
std::vector<float> BanditDataset(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> rows;
  for (int64_t i = 0; i < n; ++i) {
    const float s = u(rng), a = 0.999f * u(rng);
    rows.insert(rows.end(), {s, a, 1.0f - 4.0f * (a - 0.5f) * (a - 0.5f), u(rng), 1.0f, 0.0f});
  }
  return rows;
}

// Rows for a skill-conditioned learner (obs_dim 2, action_dim 1, K skills): skill z's descriptors
// lie near centre z of a circle, so a discriminator can tell the skills apart.
std::vector<float> SkillDataset(int64_t n, int num_skills, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::normal_distribution<float> jitter(0.0f, 0.1f);
  std::vector<float> rows;
  for (int64_t i = 0; i < n; ++i) {
    const int z = static_cast<int>(i % num_skills);
    const double angle = 2 * M_PI * z / num_skills;
    const float cx = static_cast<float>(std::cos(angle)), cy = static_cast<float>(std::sin(angle));
    rows.insert(rows.end(), {u(rng), u(rng), u(rng), u(rng), u(rng), u(rng), 0.0f, 0.0f,
                             static_cast<float>(z), cx + jitter(rng), cy + jitter(rng),
                             cx + jitter(rng), cy + jitter(rng), 10.0f * u(rng)});
  }
  return rows;
}

TEST(SacTest, RowWidthAndActorShapeFollowTheLayout) {
  EXPECT_EQ(Sac::RowWidth(3, 2, 0), 2 * 3 + 2 + 3);
  EXPECT_EQ(Sac::RowWidth(3, 2, 5), 2 * 3 + 2 + 3 + 6);
  SacConfig config = TinyConfig();
  config.num_skills = 5;
  const PolicyShape shape = Sac::ActorShape(config, 2, 2);
  EXPECT_EQ(shape.obs_dim, 7);
  EXPECT_EQ(shape.action_dim, 4);
  EXPECT_EQ(shape.output_activation, "identity");
  // docs/policy_layout.md's example: a 2 -> 64 -> 64 point_maze SAC actor with 5 skills.
  config.policy_hidden = {64, 64};
  EXPECT_EQ(Sac::ActorShape(config, 2, 2).num_params(), 4932);
}

TEST(SacTest, LogProbMatchesHandComputationWithTanhJacobian) {
  SacConfig config = TinyConfig();
  config.policy_hidden = {};
  // mu 0.2, std softplus(-0.4) + 0.001; and mu 10, where u ~ 12 and 1 - tanh(u)^2 underflows
  // float32 (the stable Jacobian keeps log pi finite).
  for (const auto& [mu, rho] : {std::pair<float, float>{0.2f, -0.4f}, {10.0f, 1.0f}}) {
    std::unique_ptr<Sac> sac = MakeSac(config, 1, 1, ConstantActor(mu, rho));
    ASSERT_NE(sac, nullptr);
    const std::vector<float> obs = {0.3f, -0.7f, 0.0f};
    const std::vector<float> eps = {0.5f, -1.25f, 2.0f};
    std::vector<float> actions, log_probs;
    GDAQD_ASSERT_OK(sac->SampleActions(obs, {}, eps, &actions, &log_probs));
    const double std = Softplus(rho) + 0.001;
    for (size_t i = 0; i < eps.size(); ++i) {
      EXPECT_NEAR(actions[i], std::tanh(mu + std * eps[i]), kTolerance);
      const double expected = HandLogProb(mu, std, eps[i]);
      EXPECT_NEAR(log_probs[i], expected, kTolerance * std::max(1.0, std::abs(expected)))
          << "mu " << mu << " eps " << eps[i];
    }
  }
}

#ifndef GDAQD_MODELS_STANDALONE
TEST(SacTest, ActorParamsRunOnTheWorkersTanhGaussianPolicy) {
  SacConfig config = TinyConfig();
  config.policy_hidden = {8, 8};
  config.num_skills = 3;
  config.min_std = 0.01f;
  std::unique_ptr<Sac> sac = MakeSac(config, 2, 2);
  ASSERT_NE(sac, nullptr);
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::vector<float> params, sac->actor_params());
  common::MlpLayout layout{.obs_dim = 2,
                           .hidden_sizes = {8, 8},
                           .action_dim = 2,
                           .hidden_activation = common::Activation::kRelu,
                           .output_activation = common::Activation::kIdentity,
                           .kind = common::PolicyKind::kTanhGaussian,
                           .num_skills = 3,
                           .min_std = 0.01f};
  GDAQD_ASSERT_OK_AND_ASSIGN(common::MlpPolicy worker, common::MlpPolicy::Create(layout, params));
  const std::vector<float> obs = {0.5f, -1.0f, 2.0f, 0.25f, -0.3f, 0.9f};
  const std::vector<int> skills = {0, 2, 1};
  const std::vector<float> eps = {0.3f, -1.1f, 1.7f, 0.2f, -0.6f, 0.05f};
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::vector<float> greedy,
                             sac->DeterministicActions(obs, skills));
  std::vector<float> sampled, log_probs;
  GDAQD_ASSERT_OK(sac->SampleActions(obs, skills, eps, &sampled, &log_probs));
  for (int i = 0; i < 3; ++i) {
    GDAQD_ASSERT_OK(worker.SetSkill(skills[i]));
    float action[2], noisy[2];
    worker.Act(absl::MakeConstSpan(&obs[2 * i], 2), absl::MakeSpan(action));
    worker.Sample(absl::MakeConstSpan(&obs[2 * i], 2), absl::MakeConstSpan(&eps[2 * i], 2),
                  absl::MakeSpan(noisy));
    for (int j = 0; j < 2; ++j) {
      EXPECT_NEAR(greedy[2 * i + j], action[j], kLayoutTolerance) << "row " << i;
      EXPECT_NEAR(sampled[2 * i + j], noisy[j], kLayoutTolerance) << "row " << i;
    }
  }
}

TEST(SacTest, AlphaLossMatchesHandComputationAndFirstStepRaisesAlpha) {
  SacConfig config = TinyConfig();
  config.policy_hidden = {};
  config.initial_alpha = 0.5;
  config.alpha_lr = 1e-2;
  // std ~ 0.0011: log pi ~ 6 is far above the target entropy's -H-bar = 0.5, so the gradient of
  // alpha * (-log pi - H-bar) w.r.t. log alpha is negative and Adam's first step raises log alpha
  // by exactly alpha_lr (m / sqrt(v) = sign(g) on a first step).
  std::unique_ptr<Sac> sac = MakeSac(config, 1, 1, ConstantActor(0.0f, -10.0f));
  ASSERT_NE(sac, nullptr);
  EXPECT_DOUBLE_EQ(sac->target_entropy(), -0.5);
  const std::vector<float> rows = BanditDataset(2, 3);
  const std::vector<float> eps = {0.5f, -2.0f, 0.0f, 0.0f, 0.0f, 0.0f};  // [3, n = 2, 1]
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacLosses losses, sac->ComputeLosses(rows, eps));
  const double std = Softplus(-10.0) + 0.001;
  const double expected =
      0.5 * ((-HandLogProb(0, std, 0.5) + 0.5) + (-HandLogProb(0, std, -2.0) + 0.5)) / 2;
  EXPECT_NEAR(losses.alpha_loss, expected, kTolerance * std::abs(expected));
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport report,
                             sac->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 5), 1));
  EXPECT_LT(report.mean_alpha_loss, 0);
  EXPECT_NEAR(report.alpha, 0.5 * std::exp(1e-2), 1e-6);
  EXPECT_NEAR(sac->alpha(), report.alpha, 1e-9);
}

TEST(SacTest, CriticAndActorStepsUseTheAlphaFromBeforeTheStep) {
  // A learner whose alpha moves and one whose alpha is fixed at the same value take identical
  // critic and actor steps: both use the alpha from before the step.
  SacConfig config = TinyConfig();
  config.alpha_lr = 0.1;
  SacConfig fixed = config;
  fixed.fix_alpha = true;
  std::unique_ptr<Sac> moving_alpha = MakeSac(config, 1, 1);
  std::unique_ptr<Sac> fixed_alpha = MakeSac(fixed, 1, 1);
  ASSERT_NE(moving_alpha, nullptr);
  ASSERT_NE(fixed_alpha, nullptr);
  GDAQD_ASSERT_OK(moving_alpha->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 5), 1).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(SacReport report,
                             fixed_alpha->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 5), 1));
  EXPECT_NE(moving_alpha->alpha(), 1.0);
  EXPECT_EQ(fixed_alpha->alpha(), 1.0);
  EXPECT_EQ(report.mean_alpha_loss, 0.0);
  EXPECT_EQ(Flat(moving_alpha->critic()), Flat(fixed_alpha->critic()));
  EXPECT_EQ(Flat(moving_alpha->actor()), Flat(fixed_alpha->actor()));
  // The second step differs: it uses the moved alpha.
  GDAQD_ASSERT_OK(moving_alpha->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 6), 1).status());
  GDAQD_ASSERT_OK(fixed_alpha->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 6), 1).status());
  EXPECT_NE(Flat(moving_alpha->actor()), Flat(fixed_alpha->actor()));
}

TEST(SacTest, FirstStepUsesCriticsAndDiscriminatorFromBeforeIt) {
  // The critic's learning rate cannot change the first actor step (the actor loss sees the old
  // critics), and the discriminator's cannot change the first critic or actor step (the reward
  // comes from the old discriminator).
  SacConfig config = TinyConfig();
  config.num_skills = 3;
  config.diversity.mode = DiversityMode::kDiayn;
  config.diversity.discriminator_hidden = {8};
  struct Learned {
    std::vector<float> actor, critic, discriminator;
  };
  auto one_step = [](const SacConfig& varied) {
    std::unique_ptr<Sac> sac = MakeSac(varied, 2, 1);
    EXPECT_NE(sac, nullptr);
    if (sac == nullptr) return Learned{};
    EXPECT_TRUE(sac->TrainSteps(MakeSampler(SkillDataset(300, 3, 1), 14, 2), 1).ok());
    return Learned{Flat(sac->actor()), Flat(sac->critic()), Flat(sac->discriminator()->network())};
  };
  const Learned base = one_step(config);
  SacConfig fast_critic = config;
  fast_critic.critic_lr = 0.1;
  const Learned critic_varied = one_step(fast_critic);
  EXPECT_NE(critic_varied.critic, base.critic);
  EXPECT_EQ(critic_varied.actor, base.actor);
  SacConfig fast_discriminator = config;
  fast_discriminator.diversity.discriminator_lr = 0.1;
  const Learned discriminator_varied = one_step(fast_discriminator);
  EXPECT_NE(discriminator_varied.discriminator, base.discriminator);
  EXPECT_EQ(discriminator_varied.critic, base.critic);
  EXPECT_EQ(discriminator_varied.actor, base.actor);
}

TEST(SacTest, CriticTargetAndLossesOnTinyBatchWithFixedNetworks) {
  SacConfig config = TinyConfig();
  config.policy_hidden = {};
  config.critic_hidden = {4};
  config.initial_alpha = 0.5;
  config.reward_scaling = 2.0;
  config.discount = 0.9;
  const float mu = 0.1f, rho = -0.5f;
  std::unique_ptr<Sac> sac = MakeSac(config, 1, 1, ConstantActor(mu, rho));
  ASSERT_NE(sac, nullptr);
  SetConstantCritic(sac->mutable_target_critic(), 2.0f, 1.5f);  // min Q' = 1.5
  SetConstantCritic(sac->mutable_critic(), 0.5f, -0.5f);        // min Q = -0.5
  // [obs, action, reward, next_obs, done, truncated]: running, terminated, truncated.
  const std::vector<float> rows = {0.1f, 0.2f, 1.0f,  0.3f, 0.0f, 0.0f,  //
                                   0.4f, 0.5f, -2.0f, 0.6f, 1.0f, 0.0f,  //
                                   0.7f, 0.8f, 3.0f,  0.9f, 0.0f, 1.0f};
  const std::vector<float> eps = {0.1f,  0.2f,  0.3f,   // alpha draws
                                  0.4f,  -1.0f, 1.5f,   // critic: a' ~ pi(.|s')
                                  -0.3f, 0.8f,  0.0f};  // actor: a~ ~ pi(.|s)
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacLosses losses, sac->ComputeLosses(rows, eps));
  const double std = Softplus(rho) + 0.001;
  const double rewards[3] = {1.0, -2.0, 3.0}, dones[3] = {0, 1, 0}, truncs[3] = {0, 0, 1};
  double critic_loss = 0, actor_loss = 0;
  for (int i = 0; i < 3; ++i) {
    const double next_log_prob = HandLogProb(mu, std, eps[3 + i]);
    const double y = 2.0 * rewards[i] + (1 - dones[i]) * 0.9 * (1.5 - 0.5 * next_log_prob);
    EXPECT_NEAR(losses.next_log_prob[i], next_log_prob, kTolerance);
    EXPECT_NEAR(losses.target_q[i], y, kTolerance) << "row " << i;
    EXPECT_FLOAT_EQ(losses.reward[i], static_cast<float>(rewards[i]));
    for (double q : {0.5, -0.5}) critic_loss += (q - y) * (q - y) * (1 - truncs[i]);
    actor_loss += 0.5 * HandLogProb(mu, std, eps[6 + i]) - (-0.5);
  }
  EXPECT_NEAR(losses.critic_loss, 0.5 * critic_loss / 6, kTolerance);
  EXPECT_NEAR(losses.actor_loss, actor_loss / 3, kTolerance);
  EXPECT_TRUE(losses.intrinsic.empty());
}

TEST(SacTest, TargetCriticsArePolyakAveragedAfterEachStep) {
  SacConfig config = TinyConfig();
  config.tau = 0.25;
  std::unique_ptr<Sac> sac = MakeSac(config, 1, 1);
  ASSERT_NE(sac, nullptr);
  SetConstantCritic(sac->mutable_target_critic(), 3.0f, -3.0f);  // differ from the critics
  const std::vector<float> target_before = Flat(sac->target_critic());
  GDAQD_ASSERT_OK(sac->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 5), 1).status());
  const std::vector<float> critic = Flat(sac->critic());
  const std::vector<float> target = Flat(sac->target_critic());
  ASSERT_EQ(target.size(), critic.size());
  for (size_t i = 0; i < target.size(); ++i) {
    EXPECT_NEAR(target[i], 0.25f * critic[i] + 0.75f * target_before[i], 1e-6f) << i;
  }
}

TEST(SacTest, LearnsTheRewardedActionOfABandit) {
  SacConfig config = TinyConfig();
  config.policy_hidden = {32, 32};
  config.critic_hidden = {32, 32};
  config.batch_size = 64;
  config.policy_lr = config.critic_lr = config.alpha_lr = 3e-3;
  config.reward_scaling = 10.0;
  std::unique_ptr<Sac> sac = MakeSac(config, 1, 1);
  ASSERT_NE(sac, nullptr);
  const SampleFn sampler = MakeSampler(BanditDataset(4096, 8), 6, 9);
  GDAQD_ASSERT_OK(sac->TrainSteps(sampler, 1600).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport report, sac->TrainSteps(sampler, 400));
  EXPECT_EQ(report.steps, 400);
  EXPECT_EQ(sac->step_count(), 2000);
  // The temperature holds the policy's entropy at the target: E[log pi] = -H-bar = 0.5.
  EXPECT_NEAR(report.mean_log_prob, -sac->target_entropy(), 0.1);
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::vector<float> actions,
                             sac->DeterministicActions({-0.8f, 0.0f, 0.7f}, {}));
  for (float a : actions) EXPECT_NEAR(a, 0.5f, 0.1f);
}

TEST(SacTest, SameSeedGivesSameParamsAndOtherSeedDiffers) {
  SacConfig config = TinyConfig();
  config.num_skills = 3;
  config.diversity.mode = DiversityMode::kDiayn;
  config.diversity.discriminator_hidden = {8};
  std::vector<std::vector<float>> actors;
  for (uint64_t seed : {1, 1, 2}) {
    config.seed = seed;
    std::unique_ptr<Sac> sac = MakeSac(config, 2, 1);
    ASSERT_NE(sac, nullptr);
    GDAQD_ASSERT_OK(sac->TrainSteps(MakeSampler(SkillDataset(300, 3, 1), 14, 2), 10).status());
    actors.push_back(Flat(sac->actor()));
  }
  EXPECT_EQ(actors[0], actors[1]);
  EXPECT_NE(actors[0], actors[2]);
}
#endif  // GDAQD_MODELS_STANDALONE

TEST(SacTest, SaveLoadRoundTripContinuesBitIdentically) {
  SacConfig config = TinyConfig();
  config.num_skills = 3;
  config.diversity.mode = DiversityMode::kSmerl;
  config.diversity.discriminator_hidden = {8};
  std::unique_ptr<Sac> original = MakeSac(config, 2, 1);
  ASSERT_NE(original, nullptr);
  GDAQD_ASSERT_OK(original->TrainSteps(MakeSampler(SkillDataset(300, 3, 1), 14, 2), 5).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string blob, original->Save());
  config.seed = 99;  // the checkpoint must overwrite everything the seed chose
  std::unique_ptr<Sac> resumed = MakeSac(config, 2, 1);
  ASSERT_NE(resumed, nullptr);
  GDAQD_ASSERT_OK(resumed->Load(blob));
  EXPECT_EQ(resumed->step_count(), 5);
  // The same state writes the same bytes (optimiser states keyed by parameter index).
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string reblob, resumed->Save());
  EXPECT_TRUE(reblob == blob) << "the restored learner writes other checkpoint bytes";
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport a,
                             original->TrainSteps(MakeSampler(SkillDataset(300, 3, 3), 14, 4), 5));
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport b,
                             resumed->TrainSteps(MakeSampler(SkillDataset(300, 3, 3), 14, 4), 5));
  EXPECT_EQ(a.mean_critic_loss, b.mean_critic_loss);
  EXPECT_EQ(a.mean_discriminator_loss, b.mean_discriminator_loss);
  EXPECT_EQ(original->alpha(), resumed->alpha());
  EXPECT_EQ(Flat(original->actor()), Flat(resumed->actor()));
  EXPECT_EQ(Flat(original->critic()), Flat(resumed->critic()));
  EXPECT_EQ(Flat(original->target_critic()), Flat(resumed->target_critic()));
  EXPECT_EQ(Flat(original->discriminator()->network()), Flat(resumed->discriminator()->network()));
  EXPECT_EQ(resumed->step_count(), 10);
}

TEST(SacTest, LoadRejectsGarbageAndOtherLayouts) {
  SacConfig config = TinyConfig();
  std::unique_ptr<Sac> sac = MakeSac(config, 2, 1);
  ASSERT_NE(sac, nullptr);
  const std::vector<float> before = Flat(sac->actor());
  EXPECT_THAT(sac->Load("not a checkpoint"), StatusIs(absl::StatusCode::kInvalidArgument, _));
  config.policy_hidden = {8};
  std::unique_ptr<Sac> other_hidden = MakeSac(config, 2, 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string hidden_blob, other_hidden->Save());
  EXPECT_THAT(sac->Load(hidden_blob),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actor.w0")));
  config = TinyConfig();
  config.num_skills = 2;
  config.diversity.mode = DiversityMode::kDiayn;
  std::unique_ptr<Sac> diayn = MakeSac(config, 2, 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string diayn_blob, diayn->Save());
  EXPECT_THAT(sac->Load(diayn_blob),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("diversity mode")));
  EXPECT_EQ(Flat(sac->actor()), before);
}

TEST(SacTest, LoadRefusesAGeneratorStateOfAnotherSizeAndChangesNothing) {
  SacConfig config = TinyConfig();
  std::unique_ptr<Sac> original = MakeSac(config, 1, 1);
  ASSERT_NE(original, nullptr);
  GDAQD_ASSERT_OK(original->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 5), 3).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string blob, original->Save());
  const torch::Tensor state = checkpoint_surgery::ReadTensor(blob, "generator_state");
  ASSERT_TRUE(state.defined());
  config.seed = 99;
  // The copy with the state as it was loads (the surgery itself keeps the checkpoint whole) ...
  std::unique_ptr<Sac> whole = MakeSac(config, 1, 1);
  ASSERT_NE(whole, nullptr);
  GDAQD_ASSERT_OK(whole->Load(checkpoint_surgery::WithTensorReplaced(blob, "generator_state", state)));
  EXPECT_EQ(whole->step_count(), 3);
  // ... one with a state of another size is refused before anything is applied.
  std::unique_ptr<Sac> sac = MakeSac(config, 1, 1);
  ASSERT_NE(sac, nullptr);
  const std::vector<float> before = Flat(sac->actor());
  for (const torch::Tensor& bad : {state.narrow(0, 0, state.size(0) - 1), torch::zeros({0})}) {
    EXPECT_THAT(sac->Load(checkpoint_surgery::WithTensorReplaced(blob, "generator_state", bad)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generator_state")));
    EXPECT_EQ(Flat(sac->actor()), before);
    EXPECT_EQ(sac->step_count(), 0);
  }
}

TEST(SacTest, TrainRunsStepsPerTrainByDefaultAndZeroStepsSamplesNothing) {
  SacConfig config = TinyConfig();
  config.steps_per_train = 3;
  std::unique_ptr<Sac> sac = MakeSac(config, 1, 1);
  ASSERT_NE(sac, nullptr);
  int64_t rows_requested = 0;
  const SampleFn inner = MakeSampler(BanditDataset(64, 4), 6, 5);
  const SampleFn counting = [&](int64_t n, std::vector<float>* rows) {
    rows_requested += n;
    inner(n, rows);
  };
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport report, sac->Train(counting));
  EXPECT_EQ(report.steps, 3);
  EXPECT_EQ(rows_requested, 3 * 32);  // one sample_fn call for all steps
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport empty, sac->TrainSteps(counting, 0));
  EXPECT_EQ(empty.steps, 0);
  EXPECT_EQ(empty.alpha, sac->alpha());
  EXPECT_EQ(rows_requested, 3 * 32);
  EXPECT_EQ(sac->step_count(), 3);
}

TEST(SacTest, TrainStopsOnceInterrupted) {
  std::unique_ptr<Sac> sac = MakeSac(TinyConfig(), 1, 1);
  ASSERT_NE(sac, nullptr);
  std::atomic<bool> interrupt{true};
  EXPECT_THAT(sac->TrainSteps(MakeSampler(BanditDataset(64, 4), 6, 5), 3, &interrupt),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("SAC training interrupted")));
  EXPECT_EQ(sac->step_count(), 0);
}

TEST(SacTest, ExtremeRewardsMakeTrainFailWithNonFiniteLoss) {
  std::unique_ptr<Sac> sac = MakeSac(TinyConfig(), 1, 1);
  ASSERT_NE(sac, nullptr);
  std::vector<float> rows = BanditDataset(64, 4);
  for (size_t r = 2; r < rows.size(); r += 6) rows[r] = FLT_MAX;
  const absl::StatusOr<SacReport> report = sac->TrainSteps(MakeSampler(rows, 6, 5), 2);
  EXPECT_THAT(report.status(), StatusIs(absl::StatusCode::kInternal, HasSubstr("non-finite")));
  EXPECT_TRUE(IsNonFiniteLoss(report.status()));
}

TEST(SacTest, RejectsBadSkillColumnsAndRowCounts) {
  SacConfig config = TinyConfig();
  config.num_skills = 3;
  config.diversity.mode = DiversityMode::kDiayn;
  std::unique_ptr<Sac> sac = MakeSac(config, 2, 1);
  ASSERT_NE(sac, nullptr);
  const std::vector<float> before = Flat(sac->actor());
  for (float bad : {3.0f, -1.0f, 1.5f, NAN}) {
    std::vector<float> rows = SkillDataset(3, 3, 1);
    rows[14 + 8] = bad;  // row 1's skill
    EXPECT_THAT(sac->TrainSteps(MakeSampler(rows, 14, 1), 1),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column skill (index 8)")))
        << bad;
  }
  SampleFn short_rows = [](int64_t n, std::vector<float>* rows) { rows->assign(n * 13, 0.0f); };
  EXPECT_THAT(sac->TrainSteps(short_rows, 1), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(sac->DeterministicActions({0.0f, 0.0f}, {5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("skills[0]")));
  EXPECT_EQ(sac->step_count(), 0);
  EXPECT_EQ(Flat(sac->actor()), before);
}

TEST(SacTest, RejectsBadConfigNamingTheField) {
  struct Case {
    const char* field;
    void (*mutate)(SacConfig&);
  };
  const Case cases[] = {
      {"policy_hidden[0]", [](SacConfig& c) { c.policy_hidden = {0}; }},
      {"critic_hidden[1]",
       [](SacConfig& c) {
         c.critic_hidden = {4, -1};
       }},
      {"policy_lr", [](SacConfig& c) { c.policy_lr = 0; }},
      {"critic_lr", [](SacConfig& c) { c.critic_lr = NAN; }},
      {"alpha_lr", [](SacConfig& c) { c.alpha_lr = -1; }},
      {"initial_alpha", [](SacConfig& c) { c.initial_alpha = 0; }},
      {"min_std", [](SacConfig& c) { c.min_std = 0; }},
      {"batch_size", [](SacConfig& c) { c.batch_size = 0; }},
      {"discount", [](SacConfig& c) { c.discount = 1.5; }},
      {"tau", [](SacConfig& c) { c.tau = -0.1; }},
      {"reward_scaling", [](SacConfig& c) { c.reward_scaling = INFINITY; }},
      {"target_entropy", [](SacConfig& c) { c.target_entropy = NAN; }},
      {"num_skills", [](SacConfig& c) { c.num_skills = -1; }},
      {"steps_per_train", [](SacConfig& c) { c.steps_per_train = -1; }},
      {"num_skills", [](SacConfig& c) { c.diversity.mode = DiversityMode::kDiayn; }},
      {"discriminator_hidden[0]",
       [](SacConfig& c) {
         c.num_skills = 2;
         c.diversity.mode = DiversityMode::kSmerl;
         c.diversity.discriminator_hidden = {0};
       }},
      {"discriminator_lr",
       [](SacConfig& c) {
         c.num_skills = 2;
         c.diversity.mode = DiversityMode::kDiayn;
         c.diversity.discriminator_lr = 0;
       }},
      {"smerl_target",
       [](SacConfig& c) {
         c.num_skills = 2;
         c.diversity.mode = DiversityMode::kSmerl;
         c.diversity.smerl_target = INFINITY;
       }},
      {"device", [](SacConfig& c) { c.device = "tpu"; }},
  };
  for (const Case& c : cases) {
    SacConfig config = TinyConfig();
    c.mutate(config);
    EXPECT_THAT(Sac::Create(config, 2, 1, {}).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)))
        << c.field;
  }
  EXPECT_THAT(Sac::Create(TinyConfig(), 0, 1, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_dim")));
  EXPECT_THAT(Sac::Create(TinyConfig(), 2, 0, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action_dim")));
  EXPECT_THAT(Sac::Create(TinyConfig(), 2, 1, std::vector<float>(7)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("initial actor")));
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float max_diff = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  }
  return max_diff;
}

TEST(SacGpuTest, CudaMatchesCpuAndCheckpointsMoveAcrossDevices) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "LibTorch sees no CUDA device";
  constexpr float kDeviceTolerance = 5e-3f;
  SacConfig config = TinyConfig();
  config.num_skills = 3;
  config.diversity.mode = DiversityMode::kSmerl;
  config.diversity.discriminator_hidden = {8};
  std::unique_ptr<Sac> cpu = MakeSac(config, 2, 1);
  config.device = "cuda";
  std::unique_ptr<Sac> gpu = MakeSac(config, 2, 1);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);
  EXPECT_TRUE(gpu->device().is_cuda());
  EXPECT_EQ(Flat(gpu->actor()), Flat(cpu->actor()));  // same CPU-side initialisation
  const std::vector<float> dataset = SkillDataset(300, 3, 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport cpu_report,
                             cpu->TrainSteps(MakeSampler(dataset, 14, 2), 20));
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport gpu_report,
                             gpu->TrainSteps(MakeSampler(dataset, 14, 2), 20));
  EXPECT_NEAR(gpu_report.mean_critic_loss, cpu_report.mean_critic_loss,
              1e-3 * std::abs(cpu_report.mean_critic_loss));
  EXPECT_NEAR(gpu->alpha(), cpu->alpha(), 1e-4);
  EXPECT_LE(MaxAbsDiff(Flat(gpu->actor()), Flat(cpu->actor())), kDeviceTolerance);
  EXPECT_LE(MaxAbsDiff(Flat(gpu->critic()), Flat(cpu->critic())), kDeviceTolerance);
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string blob, gpu->Save());
  GDAQD_ASSERT_OK(cpu->Load(blob));
  EXPECT_EQ(Flat(cpu->actor()), Flat(gpu->actor()));
  EXPECT_EQ(Flat(cpu->discriminator()->network()), Flat(gpu->discriminator()->network()));
  EXPECT_EQ(cpu->step_count(), gpu->step_count());
  GDAQD_ASSERT_OK(
      cpu->TrainSteps(MakeSampler(dataset, 14, 3), 2).status());  // optimisers on CPU now
}

}  // namespace
}  // namespace gdaqd::server::models
