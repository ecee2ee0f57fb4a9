#include "server/models/td3_critic.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/models/batched_policy.h"
#include "server/models/checkpoint_surgery_for_test.h"
#include "server/models/errors.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

// float32 sums of a few terms.
constexpr double kLossTolerance = 1e-5;
constexpr float kPolyakTolerance = 1e-6f;
// Child 0 optimised alone vs. with others: same maths, float rounding only.
constexpr float kChildTolerance = 1e-6f;

// obs 2 -> 8 -> action 1 (relu, tanh).
PolicyShape TinyPolicy() { return PolicyShape{.obs_dim = 2, .hidden = {8}, .action_dim = 1}; }

Td3Config TinyConfig() {
  Td3Config config;
  config.critic_hidden = {32, 32};
  config.critic_steps = 10;
  config.pg_steps = 10;
  config.batch_size = 32;
  config.device = "cpu";
  config.seed = 1;
  return config;
}

std::vector<float> RandomPolicies(const PolicyShape& shape, int64_t p, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> flat(static_cast<size_t>(p * shape.num_params()));
  for (float& v : flat) v = u(rng);
  return flat;
}

// One-step problem: every transition ends the episode (done = 1), so the TD target is the reward
// r(s, a) = s0 - 0.5 a + 0.25 s1 a. Rows [obs(2), action(1), reward, next_obs(2), done, trunc].
float OneStepReward(float s0, float s1, float a) { return s0 - 0.5f * a + 0.25f * s1 * a; }

std::vector<float> OneStepDataset(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> rows;
  for (int64_t i = 0; i < n; ++i) {
    const float s0 = u(rng), s1 = u(rng), a = u(rng);
    rows.insert(rows.end(), {s0, s1, a, OneStepReward(s0, s1, a), u(rng), u(rng), 1.0f, 0.0f});
  }
  return rows;
}

// Uniform sampling with replacement from `dataset` with its own seeded generator: two samplers
// made with the same seed return the same sequence.
SampleFn MakeSampler(std::vector<float> dataset, int64_t row_size, uint64_t seed) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  auto data = std::make_shared<std::vector<float>>(std::move(dataset));
  return [rng, data, row_size](int64_t n, std::vector<float>* rows) {
    std::uniform_int_distribution<int64_t> pick(0, data->size() / row_size - 1);
    rows->clear();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = pick(*rng);
      rows->insert(rows->end(), data->begin() + r * row_size, data->begin() + (r + 1) * row_size);
    }
  };
}

std::vector<float> Flat(const BatchedPolicies& net) {
  absl::StatusOr<std::vector<float>> flat = net.ToFlat();
  EXPECT_TRUE(flat.ok()) << flat.status();
  return flat.ok() ? *flat : std::vector<float>{};
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float max_diff = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  }
  return max_diff;
}

std::unique_ptr<Td3> MakeTd3(const Td3Config& config, uint64_t actor_seed = 7) {
  absl::StatusOr<std::unique_ptr<Td3>> td3 =
      Td3::Create(config, TinyPolicy(), RandomPolicies(TinyPolicy(), 1, actor_seed));
  EXPECT_TRUE(td3.ok()) << td3.status();
  return td3.ok() ? *std::move(td3) : nullptr;
}

// Sets every weight of a twin critic to 0 and the output biases to (q1, q2): Q_k(s, a) = q_k.
void SetConstantCritic(BatchedPolicies& critic, float q1, float q2) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& w : critic.weights()) w.zero_();
  for (const torch::Tensor& b : critic.biases()) b.zero_();
  critic.biases().back()[0].fill_(q1);
  critic.biases().back()[1].fill_(q2);
}

TEST(Td3Test, CriticLossIsSumOfPerCriticBatchMeans) {
  Td3Config config = TinyConfig();
  config.critic_hidden = {4};
  config.discount = 0.9;
  config.reward_scaling = 2.0;
  config.batch_size = 4;
  config.critic_steps = 1;
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  SetConstantCritic(td3->mutable_critic(), 1.0f, 3.0f);
  SetConstantCritic(td3->mutable_target_critic(), 2.0f, 5.0f);  // min(Q1', Q2') = 2
  const float r[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  const float done[4] = {0, 1, 0, 0};
  const float trunc[4] = {0, 0, 1, 0};
  std::vector<float> rows;
  for (int i = 0; i < 4; ++i) {
    rows.insert(rows.end(), {0.1f * i, -0.2f, 0.3f, r[i], 0.5f, 0.5f, done[i], trunc[i]});
  }
  double expected = 0;
  for (double q : {1.0, 3.0}) {
    double sum = 0;
    for (int i = 0; i < 4; ++i) {
      const double y = 2.0 * r[i] + (1 - done[i]) * 0.9 * 2.0;
      sum += std::pow((q - y) * (1 - trunc[i]), 2);
    }
    expected += sum / 4;
  }
  EXPECT_NEAR(*td3->CriticLoss(rows, std::vector<float>(4, 0.3f)), expected,
              kLossTolerance * expected);
  // Train() reports the same pre-update loss on the same batch (rows returned in order).
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport report,
                             td3->Train([&](int64_t n, std::vector<float>* out) {
                               ASSERT_EQ(n, 4);
                               *out = rows;
                             }));
  EXPECT_NEAR(report.last_critic_loss, expected, kLossTolerance * expected);
  EXPECT_EQ(report.critic_steps, 1);
}

TEST(Td3Test, CriticLearnsOneStepReward) {
  torch::manual_seed(0);
  Td3Config config = TinyConfig();
  config.critic_lr = 3e-3;
  config.critic_steps = 1500;
  config.batch_size = 64;
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport report,
                             td3->Train(MakeSampler(OneStepDataset(4096, 1), 8, 2)));
  EXPECT_EQ(report.critic_steps, 1500);

  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(-0.9f, 0.9f);
  std::vector<float> obs, actions, rewards;
  for (int i = 0; i < 200; ++i) {
    obs.insert(obs.end(), {u(rng), u(rng)});
    actions.push_back(u(rng));
    rewards.push_back(OneStepReward(obs[2 * i], obs[2 * i + 1], actions[i]));
  }
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> q, td3->QValues(obs, actions));
  ASSERT_EQ(q.size(), 400u);
  double mean_abs_error = 0;
  for (int k = 0; k < 2; ++k) {
    for (int i = 0; i < 200; ++i) mean_abs_error += std::abs(q[k * 200 + i] - rewards[i]) / 400;
  }
  EXPECT_LT(mean_abs_error, 0.05);
}

TEST(Td3Test, GradientChildImprovesQ1AndLeavesCriticAlone) {
  torch::manual_seed(0);
  Td3Config config = TinyConfig();
  config.critic_lr = 3e-3;
  config.critic_steps = 1000;
  config.pg_steps = 100;
  config.policy_lr = 5e-3;  // a tiny policy: larger steps than QDax's 1e-3 to move it visibly
  config.batch_size = 64;
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  const std::vector<float> dataset = OneStepDataset(4096, 1);
  GDAQD_ASSERT_OK(td3->Train(MakeSampler(dataset, 8, 2)).status());

  const std::vector<float> parent = RandomPolicies(TinyPolicy(), 1, 99);
  std::vector<float> states;  // the states the child was trained on
  SampleFn sampler = MakeSampler(dataset, 8, 4);
  SampleFn recording = [&](int64_t n, std::vector<float>* rows) {
    sampler(n, rows);
    for (int64_t i = 0; i < n; ++i)
      states.insert(states.end(), {(*rows)[i * 8], (*rows)[i * 8 + 1]});
  };
  const std::vector<float> critic_before = Flat(td3->critic());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> child,
                             td3->PolicyGradientChildren(parent, recording));
  EXPECT_EQ(Flat(td3->critic()), critic_before);

  auto mean_q1 = [&](const std::vector<float>& params) {
    absl::StatusOr<BatchedPolicies> policy =
        BatchedPolicies::FromFlat(TinyPolicy(), params, torch::kCPU);
    EXPECT_TRUE(policy.ok());
    torch::NoGradGuard no_grad;
    torch::Tensor a = policy->ForwardOrThrow(
        torch::from_blob(states.data(), {static_cast<int64_t>(states.size() / 2), 2}));
    a = a.reshape({-1}).contiguous();
    const std::vector<float> actions(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
    const std::vector<float> q = *td3->QValues(states, actions);
    double sum = 0;
    for (size_t i = 0; i < actions.size(); ++i) sum += q[i];  // Q1 is the first half
    return sum / static_cast<double>(actions.size());
  };
  const double parent_q = mean_q1(parent);
  const double child_q = mean_q1(child);
  EXPECT_GT(child_q, parent_q + 0.1) << "parent " << parent_q << " child " << child_q;
}

TEST(Td3Test, EachChildHasFreshOptimiserAndIgnoresTheOthers) {
  torch::manual_seed(0);
  Td3Config config = TinyConfig();
  config.pg_steps = 20;
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  const std::vector<float> dataset = OneStepDataset(512, 5);
  GDAQD_ASSERT_OK(td3->Train(MakeSampler(dataset, 8, 6)).status());
  const int64_t n = TinyPolicy().num_params();
  const std::vector<float> parents = RandomPolicies(TinyPolicy(), 3, 8);

  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> first,
                             td3->PolicyGradientChildren(parents, MakeSampler(dataset, 8, 9)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> second,
                             td3->PolicyGradientChildren(parents, MakeSampler(dataset, 8, 9)));
  EXPECT_EQ(first, second);  // no optimiser state survives a call
  ASSERT_NE(std::vector<float>(first.begin(), first.begin() + n),
            std::vector<float>(parents.begin(), parents.begin() + n));

  const std::vector<float> parent0(parents.begin(), parents.begin() + n);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> alone,
                             td3->PolicyGradientChildren(parent0, MakeSampler(dataset, 8, 9)));
  // Equal up to float rounding: the critic runs one matmul over all children's rows, whose BLAS
  // blocking depends on the row count.
  EXPECT_LE(MaxAbsDiff(alone, std::vector<float>(first.begin(), first.begin() + n)),
            kChildTolerance);
}

TEST(Td3Test, ActorMovesEveryPolicyDelayCriticSteps) {
  Td3Config config = TinyConfig();
  config.critic_steps = 1;
  config.policy_delay = 2;
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  SampleFn sampler = MakeSampler(OneStepDataset(256, 1), 8, 2);
  const std::vector<float> actor0 = Flat(td3->actor());

  // QDax HEAD: the counter starts at 0, so the first ever critic step also moves the actor.
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport r1, td3->Train(sampler));
  EXPECT_EQ(r1.actor_steps, 1);
  const std::vector<float> actor1 = Flat(td3->actor());
  EXPECT_NE(actor1, actor0);

  const std::vector<float> critic1 = Flat(td3->critic());
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport r2, td3->Train(sampler));
  EXPECT_EQ(r2.actor_steps, 0);
  EXPECT_EQ(Flat(td3->actor()), actor1);
  EXPECT_NE(Flat(td3->critic()), critic1);

  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport r3, td3->Train(sampler));
  EXPECT_EQ(r3.actor_steps, 1);
  EXPECT_EQ(td3->critic_step_count(), 3);
  EXPECT_EQ(td3->actor_step_count(), 2);

  config.critic_steps = 300;
  std::unique_ptr<Td3> full = MakeTd3(config);
  ASSERT_NE(full, nullptr);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport r, full->Train(sampler));
  EXPECT_EQ(r.critic_steps, 300);
  EXPECT_EQ(r.actor_steps, 150);
}

TEST(Td3Test, TargetsArePolyakAveragedAfterEachStep) {
  Td3Config config = TinyConfig();
  config.critic_steps = 1;
  config.policy_delay = 1;
  config.tau = 0.25;
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  {  // Make the targets differ from the online networks first.
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& w : td3->mutable_target_critic().weights()) w.mul_(0.5);
  }
  const std::vector<float> target_critic0 = Flat(td3->target_critic());
  const std::vector<float> target_actor0 = Flat(td3->target_actor());
  GDAQD_ASSERT_OK(td3->Train(MakeSampler(OneStepDataset(256, 1), 8, 2)).status());
  const std::vector<float> critic1 = Flat(td3->critic());
  const std::vector<float> target_critic1 = Flat(td3->target_critic());
  const std::vector<float> actor1 = Flat(td3->actor());
  const std::vector<float> target_actor1 = Flat(td3->target_actor());
  ASSERT_NE(actor1, target_actor0);
  for (size_t i = 0; i < critic1.size(); ++i) {
    ASSERT_NEAR(target_critic1[i], 0.25f * critic1[i] + 0.75f * target_critic0[i],
                kPolyakTolerance);
  }
  for (size_t i = 0; i < actor1.size(); ++i) {
    ASSERT_NEAR(target_actor1[i], 0.25f * actor1[i] + 0.75f * target_actor0[i], kPolyakTolerance);
  }
}

TEST(Td3Test, SaveLoadRoundTripResumesIdentically) {
  Td3Config config = TinyConfig();
  std::unique_ptr<Td3> a = MakeTd3(config, 7);
  config.seed = 2;
  std::unique_ptr<Td3> b = MakeTd3(config, 8);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::vector<float> dataset = OneStepDataset(256, 1);
  GDAQD_ASSERT_OK(a->Train(MakeSampler(dataset, 8, 2)).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string blob, a->Save());
  GDAQD_ASSERT_OK(b->Load(blob));
  // The same state writes the same bytes (optimiser state keyed by parameter index, not address).
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string reblob, b->Save());
  EXPECT_TRUE(reblob == blob) << "the restored learner writes other checkpoint bytes";
  EXPECT_EQ(b->critic_step_count(), a->critic_step_count());
  EXPECT_EQ(b->actor_step_count(), a->actor_step_count());
  EXPECT_EQ(Flat(b->critic()), Flat(a->critic()));
  EXPECT_EQ(Flat(b->target_critic()), Flat(a->target_critic()));
  EXPECT_EQ(Flat(b->actor()), Flat(a->actor()));
  EXPECT_EQ(Flat(b->target_actor()), Flat(a->target_actor()));
  // Optimiser moments and the noise generator came along: the next step is identical.
  GDAQD_ASSERT_OK(a->Train(MakeSampler(dataset, 8, 3)).status());
  GDAQD_ASSERT_OK(b->Train(MakeSampler(dataset, 8, 3)).status());
  EXPECT_EQ(Flat(b->critic()), Flat(a->critic()));
  EXPECT_EQ(Flat(b->actor()), Flat(a->actor()));
  EXPECT_EQ(Flat(b->target_critic()), Flat(a->target_critic()));
}

TEST(Td3Test, LoadRejectsGarbageAndOtherShapes) {
  std::unique_ptr<Td3> td3 = MakeTd3(TinyConfig());
  ASSERT_NE(td3, nullptr);
  EXPECT_THAT(td3->Load("not a checkpoint"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot read")));
  // Same critics, different actor: the critic tensors match, the actor's do not, and the
  // learner must be left untouched.
  PolicyShape wider = TinyPolicy();
  wider.hidden = {16};
  Td3Config other_seed = TinyConfig();
  other_seed.seed = 5;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Td3> other,
                             Td3::Create(other_seed, wider, RandomPolicies(wider, 1, 3)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string blob, other->Save());
  const std::vector<float> critic_before = Flat(td3->critic());
  EXPECT_THAT(td3->Load(blob), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actor.w0")));
  EXPECT_EQ(Flat(td3->critic()), critic_before);
}

TEST(Td3Test, LoadRefusesAGeneratorStateOfAnotherSizeAndChangesNothing) {
  std::unique_ptr<Td3> a = MakeTd3(TinyConfig(), 7);
  ASSERT_NE(a, nullptr);
  const std::vector<float> dataset = OneStepDataset(256, 1);
  GDAQD_ASSERT_OK(a->Train(MakeSampler(dataset, 8, 2)).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string blob, a->Save());
  const torch::Tensor state = checkpoint_surgery::ReadTensor(blob, "generator_state");
  ASSERT_TRUE(state.defined());
  Td3Config other_seed = TinyConfig();
  other_seed.seed = 5;
  std::unique_ptr<Td3> b = MakeTd3(other_seed, 8);
  ASSERT_NE(b, nullptr);
  const std::vector<float> critic_before = Flat(b->critic());
  const int64_t steps_before = b->critic_step_count();
  // The copy with the state as it was loads (the surgery itself keeps the checkpoint whole) ...
  GDAQD_ASSERT_OK(b->Load(checkpoint_surgery::WithTensorReplaced(blob, "generator_state", state)));
  EXPECT_EQ(Flat(b->critic()), Flat(a->critic()));
  // ... one with a state of another size is refused before anything is applied.
  std::unique_ptr<Td3> c = MakeTd3(other_seed, 8);
  ASSERT_NE(c, nullptr);
  for (const torch::Tensor& bad : {state.narrow(0, 0, state.size(0) - 1), torch::zeros({0})}) {
    EXPECT_THAT(c->Load(checkpoint_surgery::WithTensorReplaced(blob, "generator_state", bad)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generator_state")));
    EXPECT_EQ(Flat(c->critic()), critic_before);
    EXPECT_EQ(c->critic_step_count(), steps_before);
  }
}

// A sampler that sets `flag` when it is called: Train() and PolicyGradientChildren() call it once,
// after their entry checks and before their first step, so the flag is raised mid-call.
SampleFn InterruptingSampler(std::vector<float> dataset, std::atomic<bool>* flag,
                             absl::Time* raised_at) {
  SampleFn inner = MakeSampler(std::move(dataset), 8, 3);
  return [inner, flag, raised_at](int64_t n, std::vector<float>* rows) {
    inner(n, rows);
    *raised_at = absl::Now();
    flag->store(true);
  };
}

// Far beyond what one step takes (~1 ms here); far below the uninterrupted calls below.
constexpr absl::Duration kInterruptLatency = absl::Milliseconds(500);

TEST(Td3Test, TrainStopsBeforeItsNextStepOnceInterrupted) {
  Td3Config config = TinyConfig();
  config.critic_steps = 20'000;  // seconds uninterrupted
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  std::atomic<bool> interrupt{false};
  absl::Time raised_at;
  EXPECT_THAT(
      td3->Train(InterruptingSampler(OneStepDataset(256, 1), &interrupt, &raised_at), &interrupt),
      StatusIs(absl::StatusCode::kCancelled, HasSubstr("TD3 training interrupted")));
  EXPECT_LT(absl::Now() - raised_at, kInterruptLatency);
  EXPECT_EQ(td3->critic_step_count(), 0);  // not a single step after the flag was raised
  // A flag that is already set stops the call before it samples anything.
  int sampled = 0;
  SampleFn counting = [&](int64_t n, std::vector<float>* rows) {
    ++sampled;
    rows->assign(n * 8, 0.0f);
  };
  EXPECT_THAT(td3->Train(counting, &interrupt),
              StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  EXPECT_EQ(sampled, 0);
}

TEST(Td3Test, PolicyGradientChildrenStopOnceInterrupted) {
  Td3Config config = TinyConfig();
  config.pg_steps = 20'000;  // seconds uninterrupted
  std::unique_ptr<Td3> td3 = MakeTd3(config);
  ASSERT_NE(td3, nullptr);
  std::atomic<bool> interrupt{false};
  absl::Time raised_at;
  EXPECT_THAT(
      td3->PolicyGradientChildren(
          RandomPolicies(TinyPolicy(), 4, 2),
          InterruptingSampler(OneStepDataset(256, 1), &interrupt, &raised_at), &interrupt),
      StatusIs(absl::StatusCode::kCancelled, HasSubstr("policy-gradient variation interrupted")));
  EXPECT_LT(absl::Now() - raised_at, kInterruptLatency);
}

TEST(Td3Test, ExtremeTransitionsMakeTrainFailWithNonFiniteCriticLoss) {
  std::unique_ptr<Td3> td3 = MakeTd3(TinyConfig());
  ASSERT_NE(td3, nullptr);
  // Finite but near FLT_MAX (what a poisoned worker could send): the squared TD error overflows.
  SampleFn extreme = [](int64_t n, std::vector<float>* rows) { rows->assign(n * 8, 3e38f); };
  absl::StatusOr<TrainReport> report = td3->Train(extreme);
  EXPECT_THAT(report,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("critic loss became non-finite")));
  EXPECT_THAT(report, StatusIs(absl::StatusCode::kInternal, HasSubstr("in critic steps 1-10")));
  EXPECT_TRUE(IsNonFiniteLoss(report.status()));
  // The next call names the steps it ran.
  EXPECT_THAT(td3->Train(extreme),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("in critic steps 11-20")));
}

TEST(Td3Test, NonFiniteCriticMakesPolicyGradientChildrenFail) {
  std::unique_ptr<Td3> td3 = MakeTd3(TinyConfig());
  ASSERT_NE(td3, nullptr);
  {
    torch::NoGradGuard no_grad;
    td3->mutable_critic().biases().back().fill_(std::numeric_limits<float>::infinity());
  }
  absl::StatusOr<std::vector<float>> children = td3->PolicyGradientChildren(
      RandomPolicies(TinyPolicy(), 2, 2), MakeSampler(OneStepDataset(256, 1), 8, 3));
  EXPECT_THAT(children, StatusIs(absl::StatusCode::kInternal,
                                 HasSubstr("policy-gradient loss became non-finite")));
  EXPECT_TRUE(IsNonFiniteLoss(children.status()));
}

TEST(Td3Test, RejectsBadConfigAndInputs) {
  Td3Config config = TinyConfig();
  config.policy_delay = 0;
  EXPECT_THAT(Td3::Create(config, TinyPolicy(), RandomPolicies(TinyPolicy(), 1, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy_delay")));
  EXPECT_THAT(Td3::Create(TinyConfig(), TinyPolicy(), std::vector<float>(3)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("initial actor has 3")));
  config = TinyConfig();
  config.device = "tpu";
  EXPECT_THAT(Td3::Create(config, TinyPolicy(), RandomPolicies(TinyPolicy(), 1, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device")));

  std::unique_ptr<Td3> td3 = MakeTd3(TinyConfig());
  ASSERT_NE(td3, nullptr);
  SampleFn short_rows = [](int64_t n, std::vector<float>* rows) { rows->assign(n * 7, 0.0f); };
  EXPECT_THAT(td3->Train(short_rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected")));
  EXPECT_THAT(td3->PolicyGradientChildren(std::vector<float>(5), short_rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a positive multiple")));
  EXPECT_THAT(td3->QValues(std::vector<float>(4), std::vector<float>(3)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

// GPU check (runs only where LibTorch sees CUDA): the same seeds train the same networks on CPU
// and CUDA up to float rounding (Adam turns rounding-level gradient differences into steps of up
// to ~lr, hence the loose tolerance), and checkpoints move between devices.
TEST(Td3GpuTest, CudaMatchesCpuAndCheckpointsMoveAcrossDevices) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "LibTorch sees no CUDA device";
  constexpr float kDeviceTolerance = 5e-3f;
  Td3Config config = TinyConfig();
  config.critic_steps = 20;
  config.pg_steps = 20;
  std::unique_ptr<Td3> cpu = MakeTd3(config);
  config.device = "cuda";
  std::unique_ptr<Td3> gpu = MakeTd3(config);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);
  EXPECT_TRUE(gpu->device().is_cuda());
  EXPECT_EQ(Flat(gpu->critic()), Flat(cpu->critic()));  // same CPU-side initialisation
  const std::vector<float> dataset = OneStepDataset(512, 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport cpu_report, cpu->Train(MakeSampler(dataset, 8, 2)));
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport gpu_report, gpu->Train(MakeSampler(dataset, 8, 2)));
  EXPECT_NEAR(gpu_report.mean_critic_loss, cpu_report.mean_critic_loss,
              1e-3 * cpu_report.mean_critic_loss);
  EXPECT_LE(MaxAbsDiff(Flat(gpu->critic()), Flat(cpu->critic())), kDeviceTolerance);
  EXPECT_LE(MaxAbsDiff(Flat(gpu->actor()), Flat(cpu->actor())), kDeviceTolerance);
  const std::vector<float> parents = RandomPolicies(TinyPolicy(), 4, 8);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> cpu_children,
                             cpu->PolicyGradientChildren(parents, MakeSampler(dataset, 8, 9)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> gpu_children,
                             gpu->PolicyGradientChildren(parents, MakeSampler(dataset, 8, 9)));
  EXPECT_LE(MaxAbsDiff(gpu_children, cpu_children), kDeviceTolerance);

  GDAQD_ASSERT_OK_AND_ASSIGN(std::string blob, gpu->Save());
  GDAQD_ASSERT_OK(cpu->Load(blob));
  EXPECT_EQ(Flat(cpu->critic()), Flat(gpu->critic()));
  EXPECT_EQ(Flat(cpu->target_actor()), Flat(gpu->target_actor()));
  EXPECT_EQ(cpu->critic_step_count(), gpu->critic_step_count());
  GDAQD_ASSERT_OK(cpu->Train(MakeSampler(dataset, 8, 3)).status());  // optimiser state on CPU now
}

}  // namespace
}  // namespace gdaqd::server::models
