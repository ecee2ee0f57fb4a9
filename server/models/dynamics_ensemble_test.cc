#include "server/models/dynamics_ensemble.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/models/ensemble_stepper.h"
#include "server/models/errors.h"
#include "server/models/torch_util.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kObsDim = 3;
constexpr int kActionDim = 2;
constexpr int kRowSize = 2 * kObsDim + kActionDim + 3;
constexpr float kNoiseStd = 0.01f;  // process noise of the linear test system
// Batched vs per-member reference forward, and Predict vs PredictGrouped.
constexpr float kForwardTolerance = 1e-5f;
// Holdout MSE of the fitted linear system (real units). The delta variance is ~0.1 per dim and
// the noise variance 1e-4, so this is ~100x below the variance and a few times the noise floor.
constexpr double kLinearMseTolerance = 1e-3;

// s' = A s + B a + noise, a stable system with coupled dims.
const float kA[kObsDim][kObsDim] = {{0.9f, 0.1f, 0.0f}, {-0.1f, 0.95f, 0.05f}, {0.0f, 0.2f, 0.8f}};
const float kB[kObsDim][kActionDim] = {{0.5f, 0.0f}, {0.1f, -0.3f}, {0.0f, 0.4f}};

void LinearStep(const float* s, const float* a, float* next) {
  for (int i = 0; i < kObsDim; ++i) {
    next[i] = 0;
    for (int j = 0; j < kObsDim; ++j) next[i] += kA[i][j] * s[j];
    for (int j = 0; j < kActionDim; ++j) next[i] += kB[i][j] * a[j];
  }
}

// n transition rows of the linear system with states and actions uniform in [-1, 1].
std::vector<float> LinearRows(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::normal_distribution<float> noise(0, kNoiseStd);
  std::vector<float> rows(static_cast<size_t>(n) * kRowSize);
  for (int r = 0; r < n; ++r) {
    float* row = rows.data() + r * kRowSize;
    for (int i = 0; i < kObsDim + kActionDim; ++i) row[i] = uniform(rng);
    float* next = row + kObsDim + kActionDim + 1;
    LinearStep(row, row + kObsDim, next);
    for (int i = 0; i < kObsDim; ++i) next[i] += noise(rng);
    row[kObsDim + kActionDim] = 0.5f;  // reward: ignored by the model
    row[kRowSize - 2] = 0;             // done
    row[kRowSize - 1] = 0;             // truncated
  }
  return rows;
}

// Mean over dims of the variance of next_obs - obs in `rows`.
double DeltaVariance(const std::vector<float>& rows) {
  const int n = static_cast<int>(rows.size() / kRowSize);
  double total = 0;
  for (int d = 0; d < kObsDim; ++d) {
    double sum = 0, sum_sq = 0;
    for (int r = 0; r < n; ++r) {
      const float* row = rows.data() + r * kRowSize;
      const double delta = row[kObsDim + kActionDim + 1 + d] - row[d];
      sum += delta;
      sum_sq += delta * delta;
    }
    total += sum_sq / n - (sum / n) * (sum / n);
  }
  return total / kObsDim;
}

EnsembleConfig TinyConfig() {
  EnsembleConfig config;
  config.members = 3;
  config.hidden = {32, 32};
  config.learning_rate = 3e-3;
  config.batch_size = 64;
  config.max_steps = 1500;
  config.device = "cpu";
  config.seed = 5;
  return config;
}

std::unique_ptr<DynamicsEnsemble> MakeEnsemble(const EnsembleConfig& config) {
  auto ensemble = DynamicsEnsemble::Create(kObsDim, kActionDim, config);
  EXPECT_TRUE(ensemble.ok()) << ensemble.status();
  return *std::move(ensemble);
}

float MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<float>();
}

class DynamicsEnsembleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetTorchThreads(1);
    torch::manual_seed(0);
  }
};

TEST_F(DynamicsEnsembleTest, CreateRejectsBadConfigNamingTheField) {
  const std::vector<std::pair<std::function<void(EnsembleConfig&)>, std::string>> cases = {
      {[](EnsembleConfig& c) { c.members = 0; }, "config.members"},
      {[](EnsembleConfig& c) {
         c.hidden = {32, 0};
       },
       "config.hidden[1]"},
      {[](EnsembleConfig& c) { c.learning_rate = 0; }, "config.learning_rate"},
      {[](EnsembleConfig& c) { c.learning_rate = NAN; }, "config.learning_rate"},
      {[](EnsembleConfig& c) { c.min_log_std = 2; }, "config.min_log_std"},
      {[](EnsembleConfig& c) { c.holdout_fraction = 1; }, "config.holdout_fraction"},
      {[](EnsembleConfig& c) { c.holdout_fraction = -0.1; }, "config.holdout_fraction"},
      {[](EnsembleConfig& c) { c.patience = 0; }, "config.patience"},
      {[](EnsembleConfig& c) { c.min_relative_improvement = -1; },
       "config.min_relative_improvement"},
      {[](EnsembleConfig& c) { c.max_steps = 0; }, "config.max_steps"},
      {[](EnsembleConfig& c) { c.steps_per_check = 0; }, "config.steps_per_check"},
      {[](EnsembleConfig& c) { c.batch_size = -3; }, "config.batch_size"},
      {[](EnsembleConfig& c) { c.max_holdout_rows = 0; }, "config.max_holdout_rows"},
      {[](EnsembleConfig& c) { c.device = "tpu"; }, "device"},
  };
  for (const auto& [mutate, field] : cases) {
    EnsembleConfig config = TinyConfig();
    mutate(config);
    EXPECT_THAT(DynamicsEnsemble::Create(kObsDim, kActionDim, config),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)));
  }
  EXPECT_THAT(DynamicsEnsemble::Create(0, kActionDim, TinyConfig()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_dim")));
  EXPECT_THAT(DynamicsEnsemble::Create(kObsDim, 0, TinyConfig()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action_dim")));
}

TEST_F(DynamicsEnsembleTest, LearnsLinearSystem) {
  auto ensemble = MakeEnsemble(TinyConfig());
  const std::vector<float> rows = LinearRows(3000, 1);
  std::mt19937_64 rng(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport report, ensemble->Train(rows, rng));
  EXPECT_TRUE(ensemble->trained());
  EXPECT_EQ(report.holdout_rows, 300);
  EXPECT_EQ(report.train_rows, 2700);
  EXPECT_GT(report.steps, 0);
  EXPECT_LE(report.steps, 1500);
  EXPECT_GE(report.checks, 1);
  EXPECT_GT(report.seconds, 0);

  const double delta_variance = DeltaVariance(rows);
  EXPECT_LT(report.holdout_mse, kLinearMseTolerance);
  EXPECT_LT(report.holdout_mse, 0.01 * delta_variance);
  // The NLL went down a lot from the first check (normalised units: a unit-variance fit is ~3).
  EXPECT_LT(report.holdout_loss, report.first_holdout_loss - 3.0);
  EXPECT_TRUE(std::isfinite(report.train_loss));

  // Fresh states: every member's mean prediction is close to the true (noise-free) next state.
  const std::vector<float> test_rows = LinearRows(64, 99);
  std::vector<float> obs, actions, want;
  for (int r = 0; r < 64; ++r) {
    const float* row = test_rows.data() + r * kRowSize;
    obs.insert(obs.end(), row, row + kObsDim);
    actions.insert(actions.end(), row + kObsDim, row + kObsDim + kActionDim);
    float next[kObsDim];
    LinearStep(row, row + kObsDim, next);
    want.insert(want.end(), next, next + kObsDim);
  }
  for (int32_t m = 0; m < ensemble->members(); ++m) {
    std::vector<int32_t> member(64, m);
    std::vector<float> next_obs(want.size());
    GDAQD_ASSERT_OK(
        ensemble->Predict(obs, actions, member, /*sample=*/false, rng, absl::MakeSpan(next_obs)));
    double mse = 0;
    for (size_t i = 0; i < want.size(); ++i) mse += std::pow(next_obs[i] - want[i], 2);
    EXPECT_LT(mse / want.size(), kLinearMseTolerance) << "member " << m;
  }
}

TEST_F(DynamicsEnsembleTest, EarlyStopsWhenHoldoutStopsImproving) {
  EnsembleConfig config = TinyConfig();
  config.patience = 2;
  config.min_relative_improvement = 100;  // no check can improve this much
  config.steps_per_check = 5;
  auto ensemble = MakeEnsemble(config);
  std::mt19937_64 rng(3);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport report, ensemble->Train(LinearRows(200, 4), rng));
  EXPECT_TRUE(report.stopped_early);
  EXPECT_EQ(report.checks, 3);  // the first check sets the best, then `patience` misses
  EXPECT_EQ(report.steps, 15);
}

TEST_F(DynamicsEnsembleTest, WithoutHoldoutRunsMaxSteps) {
  EnsembleConfig config = TinyConfig();
  config.holdout_fraction = 0;
  config.max_steps = 25;
  auto ensemble = MakeEnsemble(config);
  std::mt19937_64 rng(3);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport report, ensemble->Train(LinearRows(50, 4), rng));
  EXPECT_EQ(report.steps, 25);
  EXPECT_EQ(report.holdout_rows, 0);
  EXPECT_EQ(report.checks, 0);
  EXPECT_TRUE(std::isnan(report.holdout_loss));
  EXPECT_TRUE(std::isfinite(report.train_loss));
}

TEST_F(DynamicsEnsembleTest, LogStdStaysWithinBounds) {
  EnsembleConfig config = TinyConfig();
  config.min_log_std = -2;
  config.max_log_std = 0.5f;
  config.max_steps = 200;
  auto ensemble = MakeEnsemble(config);
  std::mt19937_64 rng(6);
  GDAQD_ASSERT_OK(ensemble->Train(LinearRows(500, 7), rng).status());
  for (float scale : {1.0f, 1e3f, -1e5f}) {
    const torch::Tensor obs = torch::randn({3, 50, kObsDim}) * scale;
    const torch::Tensor actions = torch::randn({3, 50, kActionDim}) * scale;
    GDAQD_ASSERT_OK_AND_ASSIGN(DeltaDistribution pred, ensemble->PredictDelta(obs, actions));
    EXPECT_GE(pred.log_std.min().item<float>(), config.min_log_std) << "scale " << scale;
    EXPECT_LE(pred.log_std.max().item<float>(), config.max_log_std) << "scale " << scale;
  }
}

// Reference: member by member with plain 2-D matmuls on the same weights.
DeltaDistribution PerMemberReference(const DynamicsEnsemble& ensemble, const torch::Tensor& obs,
                                     const torch::Tensor& actions) {
  const EnsembleNormalizer& norm = ensemble.normalizer();
  const double lo = ensemble.config().min_log_std, hi = ensemble.config().max_log_std;
  std::vector<torch::Tensor> means, log_stds;
  for (int m = 0; m < ensemble.members(); ++m) {
    torch::Tensor h = (torch::cat({obs[m], actions[m]}, 1) - norm.input_mean) / norm.input_std;
    const size_t layers = ensemble.weights().size();
    for (size_t l = 0; l < layers; ++l) {
      h = torch::addmm(ensemble.biases()[l][m], h, ensemble.weights()[l][m]);
      if (l + 1 < layers) h = torch::relu(h);
    }
    torch::Tensor log_std = hi - torch::softplus(hi - h.slice(1, kObsDim, 2 * kObsDim));
    log_stds.push_back(lo + torch::softplus(log_std - lo));
    means.push_back(h.slice(1, 0, kObsDim));
  }
  return {torch::stack(means), torch::stack(log_stds)};
}

TEST_F(DynamicsEnsembleTest, BatchedForwardMatchesPerMemberLoop) {
  EnsembleConfig config = TinyConfig();
  config.max_steps = 30;  // a non-identity normaliser and moved weights
  auto ensemble = MakeEnsemble(config);
  std::mt19937_64 rng(8);
  GDAQD_ASSERT_OK(ensemble->Train(LinearRows(300, 9), rng).status());

  torch::NoGradGuard no_grad;
  const torch::Tensor obs = torch::randn({3, 40, kObsDim});
  const torch::Tensor actions = torch::randn({3, 40, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(DeltaDistribution batched, ensemble->PredictDelta(obs, actions));
  const DeltaDistribution reference = PerMemberReference(*ensemble, obs, actions);
  EXPECT_LE(MaxAbsDiff(batched.mean, reference.mean), kForwardTolerance);
  EXPECT_LE(MaxAbsDiff(batched.log_std, reference.log_std), kForwardTolerance);

  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor next, ensemble->PredictGrouped(obs, actions, false));
  const EnsembleNormalizer& norm = ensemble->normalizer();
  const torch::Tensor want = obs + reference.mean * norm.delta_std + norm.delta_mean;
  EXPECT_LE(MaxAbsDiff(next, want), kForwardTolerance);
}

TEST_F(DynamicsEnsembleTest, MembersAreInitialisedDifferently) {
  auto ensemble = MakeEnsemble(TinyConfig());
  const torch::Tensor w = ensemble->weights()[0];
  EXPECT_GT(MaxAbsDiff(w[0], w[1]), 0.1f);
  // Same input to every member gives different predictions.
  const torch::Tensor obs = torch::randn({1, 8, kObsDim}).expand({3, 8, kObsDim});
  const torch::Tensor actions = torch::randn({1, 8, kActionDim}).expand({3, 8, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor next, ensemble->PredictGrouped(obs, actions, false));
  EXPECT_GT(MaxAbsDiff(next[0], next[1]), 1e-3f);
  EXPECT_GT(MaxAbsDiff(next[1], next[2]), 1e-3f);
  // And the same seed gives the same weights.
  auto again = MakeEnsemble(TinyConfig());
  EXPECT_EQ(MaxAbsDiff(again->weights()[0], w), 0.0f);
}

TEST_F(DynamicsEnsembleTest, PredictMatchesGroupedAndMeanIsDeterministic) {
  EnsembleConfig config = TinyConfig();
  config.max_steps = 30;
  auto ensemble = MakeEnsemble(config);
  std::mt19937_64 rng(10);
  GDAQD_ASSERT_OK(ensemble->Train(LinearRows(300, 11), rng).status());

  constexpr int kPerMember = 5;
  const torch::Tensor obs = torch::randn({3, kPerMember, kObsDim});
  const torch::Tensor actions = torch::randn({3, kPerMember, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor grouped, ensemble->PredictGrouped(obs, actions, false));
  // Interleave the rows (row b uses member b % 3) for the host API.
  std::vector<float> obs_rows, action_rows, want;
  std::vector<int32_t> member;
  for (int i = 0; i < kPerMember; ++i) {
    for (int m = 0; m < 3; ++m) {
      const torch::Tensor o = obs[m][i].contiguous(), a = actions[m][i].contiguous();
      const torch::Tensor g = grouped[m][i].contiguous();
      obs_rows.insert(obs_rows.end(), o.data_ptr<float>(), o.data_ptr<float>() + kObsDim);
      action_rows.insert(action_rows.end(), a.data_ptr<float>(), a.data_ptr<float>() + kActionDim);
      want.insert(want.end(), g.data_ptr<float>(), g.data_ptr<float>() + kObsDim);
      member.push_back(m);
    }
  }
  std::vector<float> first(want.size()), second(want.size());
  GDAQD_ASSERT_OK(
      ensemble->Predict(obs_rows, action_rows, member, false, rng, absl::MakeSpan(first)));
  GDAQD_ASSERT_OK(
      ensemble->Predict(obs_rows, action_rows, member, false, rng, absl::MakeSpan(second)));
  EXPECT_EQ(first, second);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(first[i], want[i], kForwardTolerance) << i;

  // Sampling: reproducible given the rng, and different from the mean.
  std::mt19937_64 rng_a(1), rng_b(1);
  std::vector<float> sample_a(want.size()), sample_b(want.size());
  GDAQD_ASSERT_OK(
      ensemble->Predict(obs_rows, action_rows, member, true, rng_a, absl::MakeSpan(sample_a)));
  GDAQD_ASSERT_OK(
      ensemble->Predict(obs_rows, action_rows, member, true, rng_b, absl::MakeSpan(sample_b)));
  EXPECT_EQ(sample_a, sample_b);
  EXPECT_NE(sample_a, first);
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor sampled, ensemble->PredictGrouped(obs, actions, true));
  EXPECT_GT(MaxAbsDiff(sampled, grouped), 0.0f);
}

std::vector<float> HostVector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

TEST_F(DynamicsEnsembleTest, HostStepperMatchesPredictGroupedWithTheSameDraws) {
  EnsembleConfig config = TinyConfig();
  config.max_steps = 30;
  auto ensemble = MakeEnsemble(config);
  std::mt19937_64 rng(10);
  GDAQD_ASSERT_OK(ensemble->Train(LinearRows(300, 11), rng).status());

  constexpr int kPerMember = 7;  // 3 x 7 x 3 = 63 draws: torch's vectorised normal path
  const torch::Tensor obs = torch::randn({3, kPerMember, kObsDim});
  const torch::Tensor actions = torch::randn({3, kPerMember, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<GroupedStepper> stepper,
                             ensemble->MakeHostStepper(kPerMember));
  EXPECT_NE(dynamic_cast<EnsembleStepper*>(stepper.get()), nullptr) << "not the fused stepper";
  const std::vector<float> obs_host = HostVector(obs), actions_host = HostVector(actions);
  for (bool sample : {false, true}) {
    at::Generator for_torch = at::detail::createCPUGenerator(42);
    at::Generator for_host = at::detail::createCPUGenerator(42);
    for (int step = 0; step < 3; ++step) {  // the two generators must stay in step
      GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor want,
                                 ensemble->PredictGrouped(obs, actions, sample, for_torch));
      const std::vector<float> want_host = HostVector(want);
      std::vector<float> got(want_host.size());
      GDAQD_ASSERT_OK(stepper->Step(obs_host, actions_host, sample, for_host, absl::MakeSpan(got)));
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_NEAR(got[i], want_host[i], kForwardTolerance * (1 + std::abs(want_host[i])))
            << "sample " << sample << " step " << step << " value " << i;
      }
    }
  }
  std::vector<float> short_out(3);
  EXPECT_THAT(stepper->Step(obs_host, actions_host, true, c10::nullopt, absl::MakeSpan(short_out)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows")));
  EXPECT_THAT(ensemble->MakeHostStepper(0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("per_member")));
}

TEST_F(DynamicsEnsembleTest, SaveLoadRoundTripGivesIdenticalPredictionsAndTraining) {
  EnsembleConfig config = TinyConfig();
  config.max_steps = 40;
  auto ensemble = MakeEnsemble(config);
  const std::vector<float> rows = LinearRows(300, 12);
  std::mt19937_64 rng(13);
  GDAQD_ASSERT_OK(ensemble->Train(rows, rng).status());

  std::stringstream stream;
  GDAQD_ASSERT_OK(ensemble->Save(stream));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<DynamicsEnsemble> loaded,
                             DynamicsEnsemble::Load(stream, "cpu"));
  EXPECT_TRUE(loaded->trained());
  EXPECT_EQ(loaded->config().hidden, config.hidden);
  EXPECT_EQ(loaded->config().batch_size, config.batch_size);
  EXPECT_EQ(loaded->config().seed, config.seed);

  const torch::Tensor obs = torch::randn({3, 16, kObsDim});
  const torch::Tensor actions = torch::randn({3, 16, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor want, ensemble->PredictGrouped(obs, actions, false));
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor got, loaded->PredictGrouped(obs, actions, false));
  EXPECT_TRUE(torch::equal(want, got));

  // Adam's moments came along: continuing to train gives bit-identical weights.
  std::mt19937_64 rng_a(14), rng_b(14);
  GDAQD_ASSERT_OK(ensemble->Train(rows, rng_a).status());
  GDAQD_ASSERT_OK(loaded->Train(rows, rng_b).status());
  for (size_t l = 0; l < ensemble->weights().size(); ++l) {
    EXPECT_TRUE(torch::equal(ensemble->weights()[l], loaded->weights()[l])) << "layer " << l;
  }
}

TEST_F(DynamicsEnsembleTest, CloneIsAnIndependentSnapshot) {
  EnsembleConfig config = TinyConfig();
  config.max_steps = 20;
  auto ensemble = MakeEnsemble(config);
  const std::vector<float> rows = LinearRows(200, 15);
  std::mt19937_64 rng(16);
  GDAQD_ASSERT_OK(ensemble->Train(rows, rng).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<DynamicsEnsemble> snapshot, ensemble->Clone());

  const torch::Tensor obs = torch::randn({3, 8, kObsDim});
  const torch::Tensor actions = torch::randn({3, 8, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor before, ensemble->PredictGrouped(obs, actions, false));
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor copy, snapshot->PredictGrouped(obs, actions, false));
  EXPECT_TRUE(torch::equal(before, copy));
  GDAQD_ASSERT_OK(ensemble->Train(rows, rng).status());
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor after, snapshot->PredictGrouped(obs, actions, false));
  EXPECT_TRUE(torch::equal(copy, after));
}

TEST_F(DynamicsEnsembleTest, LoadRejectsGarbage) {
  {
    std::stringstream stream("garbage that is long enough to have a header");
    EXPECT_THAT(DynamicsEnsemble::Load(stream, "cpu"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("magic")));
  }
  auto ensemble = MakeEnsemble(TinyConfig());
  std::stringstream saved;
  GDAQD_ASSERT_OK(ensemble->Save(saved));
  const std::string bytes = saved.str();
  {
    std::stringstream stream(bytes.substr(0, bytes.size() / 2));
    EXPECT_THAT(DynamicsEnsemble::Load(stream, "cpu"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
  }
  {  // Right header, corrupt archive.
    std::string bad = bytes;
    for (size_t i = 20; i < bad.size(); i += 7) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    std::stringstream stream(bad);
    EXPECT_THAT(DynamicsEnsemble::Load(stream, "cpu"),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  }
  {
    std::stringstream stream(bytes);
    EXPECT_THAT(DynamicsEnsemble::Load(stream, "tpu"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device")));
  }
}

// AntTrap's sizes (obs 29, action 8) with the shipped ensemble defaults (4 members of (512, 512),
// batch 256, up to 2,000 steps, a 1,024-row holdout check every 10 steps): an interrupt raised
// mid-training must end the call within a second (one step is ~0.1 s on one core), where the
// uninterrupted call takes minutes.
TEST_F(DynamicsEnsembleTest, InterruptStopsShippedSizeTrainingWithinASecond) {
  constexpr int kAntObs = 29;
  constexpr int kAntAction = 8;
  constexpr int kAntRow = 2 * kAntObs + kAntAction + 3;
  EnsembleConfig config;        // the shipped defaults
  config.patience = 1'000'000;  // never stop early: only the interrupt can end the call
  auto ensemble = DynamicsEnsemble::Create(kAntObs, kAntAction, config);
  ASSERT_TRUE(ensemble.ok()) << ensemble.status();
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> rows(5000 * kAntRow);
  for (float& v : rows) v = normal(rng);

  std::atomic<bool> interrupt{false};
  absl::Time raised_at = absl::InfiniteFuture();
  absl::StatusOr<TrainReport> report;
  absl::Time returned_at;
  {
    std::thread raiser([&] {  // std::thread: this test binary builds without common/
      absl::SleepFor(absl::Milliseconds(500));
      raised_at = absl::Now();
      interrupt = true;
    });
    report = (*ensemble)->Train(rows, rng, &interrupt);
    returned_at = absl::Now();
    raiser.join();
  }
  EXPECT_THAT(report, StatusIs(absl::StatusCode::kCancelled,
                               HasSubstr("dynamics model training interrupted")));
  RecordProperty("interrupt_latency_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(returned_at - raised_at)));
  EXPECT_LT(returned_at - raised_at, absl::Seconds(1));
}

TEST_F(DynamicsEnsembleTest, TrainWithTheFlagAlreadySetChangesNothing) {
  auto ensemble = MakeEnsemble(TinyConfig());
  std::mt19937_64 rng(4);
  std::atomic<bool> interrupt{true};
  EXPECT_THAT(ensemble->Train(LinearRows(100, 5), rng, &interrupt),
              StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  EXPECT_FALSE(ensemble->trained());
}

TEST_F(DynamicsEnsembleTest, ExtremeTransitionsMakeTrainFailWithNonFiniteLoss) {
  auto ensemble = MakeEnsemble(TinyConfig());
  std::mt19937_64 rng(6);
  // Finite values near FLT_MAX (what a poisoned worker could send): the state delta
  // next_obs - obs = 3e38 - (-3e38) overflows float32.
  std::vector<float> rows = LinearRows(100, 7);
  for (size_t r = 0; r < rows.size() / kRowSize; ++r) {
    rows[r * kRowSize] = -3e38f;                            // obs[0]
    rows[r * kRowSize + kObsDim + kActionDim + 1] = 3e38f;  // next_obs[0]
  }
  absl::StatusOr<TrainReport> report = ensemble->Train(rows, rng);
  EXPECT_THAT(report, StatusIs(absl::StatusCode::kInternal,
                               HasSubstr("dynamics model training loss became non-finite")));
  EXPECT_TRUE(IsNonFiniteLoss(report.status()));
}

TEST_F(DynamicsEnsembleTest, BadInputsAreInvalidArgument) {
  auto ensemble = MakeEnsemble(TinyConfig());
  std::mt19937_64 rng(17);
  std::vector<float> rows = LinearRows(10, 18);
  EXPECT_THAT(ensemble->Train(absl::MakeSpan(rows).subspan(1), rng),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of the row size")));
  EXPECT_THAT(ensemble->Train(absl::MakeSpan(rows).first(kRowSize), rng),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 2")));
  rows[kRowSize + 4] = NAN;
  EXPECT_THAT(ensemble->Train(rows, rng),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not finite")));
  EXPECT_FALSE(ensemble->trained());

  std::vector<float> obs(2 * kObsDim, 0.1f), actions(2 * kActionDim, 0.2f), next(2 * kObsDim);
  std::vector<int32_t> member = {0, 3};
  EXPECT_THAT(ensemble->Predict(obs, actions, member, false, rng, absl::MakeSpan(next)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("member[1]")));
  member = {0, 1};
  EXPECT_THAT(ensemble->Predict(absl::MakeSpan(obs).subspan(1), actions, member, false, rng,
                                absl::MakeSpan(next)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs has")));
  EXPECT_THAT(ensemble->Predict(obs, actions, member, false, rng, absl::MakeSpan(next).subspan(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("next_obs has")));
  actions[1] = INFINITY;
  EXPECT_THAT(ensemble->Predict(obs, actions, member, false, rng, absl::MakeSpan(next)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actions[1]")));

  EXPECT_THAT(ensemble->PredictGrouped(torch::zeros({2, 4, kObsDim}),
                                       torch::zeros({3, 4, kActionDim}), false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs is")));
  EXPECT_THAT(ensemble->PredictGrouped(torch::zeros({3, 4, kObsDim}),
                                       torch::zeros({3, 4, kActionDim}, torch::kFloat64), false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actions is")));
  EXPECT_THAT(ensemble->PredictGrouped(torch::zeros({3, 4, kObsDim}),
                                       torch::zeros({3, 5, kActionDim}), false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows per member")));
}

// GPU check (skipped without CUDA): same seed gives the same ensemble on either device, and
// training, both prediction APIs and checkpoints work across devices.
TEST_F(DynamicsEnsembleTest, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  constexpr float kDeviceTolerance = 1e-4f;
  EnsembleConfig config = TinyConfig();
  config.max_steps = 50;
  auto cpu = MakeEnsemble(config);
  config.device = "cuda";
  auto gpu = MakeEnsemble(config);
  ASSERT_TRUE(gpu->device().is_cuda());
  EXPECT_EQ(MaxAbsDiff(cpu->weights()[1], gpu->weights()[1].cpu()), 0.0f);

  const std::vector<float> rows = LinearRows(400, 19);
  std::mt19937_64 rng_cpu(20), rng_gpu(20);
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport cpu_report, cpu->Train(rows, rng_cpu));
  GDAQD_ASSERT_OK_AND_ASSIGN(TrainReport gpu_report, gpu->Train(rows, rng_gpu));
  EXPECT_EQ(cpu_report.steps, gpu_report.steps);
  EXPECT_NEAR(cpu_report.holdout_loss, gpu_report.holdout_loss,
              1e-2 * std::abs(cpu_report.holdout_loss));

  const torch::Tensor obs = torch::randn({3, 16, kObsDim});
  const torch::Tensor actions = torch::randn({3, 16, kActionDim});
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor next, gpu->PredictGrouped(obs, actions, false));
  EXPECT_TRUE(next.is_cuda());
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor sampled,
                             gpu->PredictGrouped(obs.cuda(), actions.cuda(), true));
  EXPECT_TRUE(sampled.is_cuda());
  std::vector<float> obs_rows(2 * kObsDim, 0.3f), action_rows(2 * kActionDim, -0.2f);
  std::vector<float> next_rows(2 * kObsDim);
  std::vector<int32_t> member = {2, 0};
  GDAQD_ASSERT_OK(
      gpu->Predict(obs_rows, action_rows, member, true, rng_gpu, absl::MakeSpan(next_rows)));

  std::stringstream stream;
  GDAQD_ASSERT_OK(gpu->Save(stream));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<DynamicsEnsemble> moved,
                             DynamicsEnsemble::Load(stream, "cpu"));
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor on_cpu, moved->PredictGrouped(obs, actions, false));
  EXPECT_LE(MaxAbsDiff(on_cpu, next.cpu()), kDeviceTolerance);
  GDAQD_ASSERT_OK(moved->Train(rows, rng_cpu).status());  // Adam state moved with it
}

}  // namespace
}  // namespace gdaqd::server::models
