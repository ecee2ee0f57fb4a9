// DIAYN's and SMERL's parts of the SAC learner (sac_diversity.h) through Sac's public API.
#include "server/models/sac_diversity.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/models/sac.h"
#include "server/models/torch_util.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

// float32 forward passes against double hand computations.
constexpr double kTolerance = 1e-5;
// Row width for obs_dim 2, action_dim 1 with skills; the skill block starts at column 8.
constexpr int64_t kWidth = 14;

// Discriminator logits = d @ W + b for a linear discriminator (discriminator_hidden {}).
constexpr double kW[2][3] = {{1.0, -1.0, 0.5}, {0.2, 0.3, -2.0}};
constexpr double kB[3] = {0.1, 0.0, -0.1};

SacConfig SkillConfig(DiversityMode mode, int num_skills) {
  SacConfig config;
  config.policy_hidden = {8};
  config.critic_hidden = {8};
  config.batch_size = 32;
  config.device = "cpu";
  config.seed = 3;
  config.num_skills = num_skills;
  config.diversity.mode = mode;
  config.diversity.discriminator_hidden = {};
  return config;
}

std::unique_ptr<Sac> MakeSac(const SacConfig& config) {
  SetTorchThreads(1);  // deterministic and fair on the shared 2-core machines
  absl::StatusOr<std::unique_ptr<Sac>> sac = Sac::Create(config, 2, 1, {});
  EXPECT_TRUE(sac.ok()) << sac.status();
  return sac.ok() ? *std::move(sac) : nullptr;
}

// Writes kW and kB into the linear 2 -> 3 discriminator.
void SetKnownDiscriminator(SkillDiscriminator& discriminator) {
  torch::NoGradGuard no_grad;
  const BatchedPolicies& net = discriminator.mutable_network();
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 3; ++k) net.weights()[0][0][i][k].fill_(kW[i][k]);
  }
  for (int k = 0; k < 3; ++k) net.biases()[0][0][0][k].fill_(kB[k]);
}

// log q(z | d) of the known discriminator, in double.
double KnownLogQ(double dx, double dy, int z) {
  double logits[3], max_logit = -INFINITY;
  for (int k = 0; k < 3; ++k) {
    logits[k] = dx * kW[0][k] + dy * kW[1][k] + kB[k];
    max_logit = std::max(max_logit, logits[k]);
  }
  double sum = 0;
  for (double l : logits) sum += std::exp(l - max_logit);
  return logits[z] - max_logit - std::log(sum);
}

// One row: obs (2), action, task reward, next_obs (2), done, truncated, skill, d(s), d(s'), R.
std::vector<float> Row(float reward, int skill, float dx, float dy, float next_dx, float next_dy,
                       float trajectory_return) {
  return {0.1f,
          -0.2f,
          0.3f,
          reward,
          0.4f,
          0.5f,
          0.0f,
          0.0f,
          static_cast<float>(skill),
          dx,
          dy,
          next_dx,
          next_dy,
          trajectory_return};
}

std::vector<float> Concat(std::initializer_list<std::vector<float>> rows) {
  std::vector<float> out;
  for (const std::vector<float>& row : rows) out.insert(out.end(), row.begin(), row.end());
  return out;
}

TEST(SacDiversityTest, DiaynRewardIsLogQOfNextDescriptorPlusLogK) {
  std::unique_ptr<Sac> sac = MakeSac(SkillConfig(DiversityMode::kDiayn, 3));
  ASSERT_NE(sac, nullptr);
  ASSERT_NE(sac->mutable_discriminator(), nullptr);
  SetKnownDiscriminator(*sac->mutable_discriminator());
  // d(s) and d(s') differ, so the test tells which one each term uses.
  const std::vector<float> rows = Concat({Row(5.0f, 0, 0.5f, -0.5f, 1.0f, 2.0f, 0.0f),
                                          Row(-1.0f, 1, -1.0f, 0.0f, 0.3f, -0.7f, 0.0f),
                                          Row(0.0f, 2, 2.0f, 1.0f, -1.5f, 0.25f, 0.0f)});
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacLosses losses,
                             sac->ComputeLosses(rows, std::vector<float>(9, 0.0f)));
  double discriminator_loss = 0;
  for (int i = 0; i < 3; ++i) {
    const float* row = &rows[i * kWidth];
    const double expected = KnownLogQ(row[11], row[12], i) + std::log(3.0);
    EXPECT_NEAR(losses.intrinsic[i], expected, kTolerance) << "row " << i;
    // DIAYN ignores the task reward.
    EXPECT_NEAR(losses.reward[i], expected, kTolerance) << "row " << i;
    EXPECT_EQ(losses.gate[i], 1.0f);
    discriminator_loss -= KnownLogQ(row[9], row[10], i);  // cross-entropy on d(s)
  }
  EXPECT_NEAR(losses.discriminator_loss, discriminator_loss / 3, kTolerance);
}

TEST(SacDiversityTest, SmerlGateOpensExactlyAtTargetMinusMargin) {
  SacConfig config = SkillConfig(DiversityMode::kSmerl, 3);
  config.diversity.smerl_target = 1000;
  config.diversity.smerl_margin = 100;
  config.diversity.diversity_reward_scale = 2.0;
  std::unique_ptr<Sac> sac = MakeSac(config);
  ASSERT_NE(sac, nullptr);
  SetKnownDiscriminator(*sac->mutable_discriminator());
  const float returns[4] = {900.0f, std::nextafter(900.0f, 0.0f), 1e4f, -5.0f};
  const float expected_gate[4] = {1, 0, 1, 0};
  std::vector<float> rows;
  for (int i = 0; i < 4; ++i) {
    const std::vector<float> row = Row(1.5f, i % 3, 0.0f, 0.0f, 0.5f * i, -0.25f * i, returns[i]);
    rows.insert(rows.end(), row.begin(), row.end());
  }
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacLosses losses,
                             sac->ComputeLosses(rows, std::vector<float>(12, 0.0f)));
  for (int i = 0; i < 4; ++i) {
    const double r_z = KnownLogQ(0.5 * i, -0.25 * i, i % 3) + std::log(3.0);
    EXPECT_EQ(losses.gate[i], expected_gate[i]) << "R = " << returns[i];
    EXPECT_NEAR(losses.intrinsic[i], r_z, kTolerance);
    EXPECT_NEAR(losses.reward[i], 1.5 + expected_gate[i] * 2.0 * r_z, kTolerance);
  }
}

TEST(SacDiversityTest, PlainSacKeepsTheTaskRewardAndHasNoDiscriminator) {
  SacConfig config = SkillConfig(DiversityMode::kNone, 3);  // skill-conditioned, task reward
  std::unique_ptr<Sac> sac = MakeSac(config);
  ASSERT_NE(sac, nullptr);
  EXPECT_EQ(sac->discriminator(), nullptr);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      const SacLosses losses,
      sac->ComputeLosses(Row(-4.0f, 2, 1, 1, 1, 1, 1e6f), std::vector<float>(3, 0.0f)));
  EXPECT_EQ(losses.reward[0], -4.0f);
  EXPECT_TRUE(losses.intrinsic.empty());
}

// Rows whose skill z has descriptors near the z-th of K points on the unit circle.
std::vector<float> ClusteredSkills(int64_t n, int num_skills, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::normal_distribution<float> jitter(0.0f, 0.1f);
  std::vector<float> rows;
  for (int64_t i = 0; i < n; ++i) {
    const int z = static_cast<int>(i % num_skills);
    const float cx = static_cast<float>(std::cos(2 * M_PI * z / num_skills));
    const float cy = static_cast<float>(std::sin(2 * M_PI * z / num_skills));
    const std::vector<float> row = Row(u(rng), z, cx + jitter(rng), cy + jitter(rng),
                                       cx + jitter(rng), cy + jitter(rng), 100 * u(rng));
    rows.insert(rows.end(), row.begin(), row.end());
  }
  return rows;
}

SampleFn MakeSampler(std::vector<float> dataset, uint64_t seed) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  auto data = std::make_shared<std::vector<float>>(std::move(dataset));
  return [rng, data](int64_t n, std::vector<float>* rows) {
    std::uniform_int_distribution<int64_t> pick(0, static_cast<int64_t>(data->size()) / kWidth - 1);
    rows->clear();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = pick(*rng);
      rows->insert(rows->end(), data->begin() + r * kWidth, data->begin() + (r + 1) * kWidth);
    }
  };
}

TEST(SacDiversityTest, DiaynDiscriminatorSeparatesClusteredSkills) {
  constexpr int kSkills = 4;
  SacConfig config = SkillConfig(DiversityMode::kDiayn, kSkills);
  config.diversity.discriminator_hidden = {16};
  config.diversity.discriminator_lr = 3e-3;
  std::unique_ptr<Sac> sac = MakeSac(config);
  ASSERT_NE(sac, nullptr);
  const SampleFn sampler = MakeSampler(ClusteredSkills(1000, kSkills, 1), 2);
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport first, sac->TrainSteps(sampler, 20));
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport last, sac->TrainSteps(sampler, 280));
  EXPECT_LT(last.mean_discriminator_loss, first.mean_discriminator_loss);
  EXPECT_EQ(last.gate_open_fraction, 1.0);
  // On fresh rows, q(z | d(s')) > 0.85 on average: r_z close to its maximum log K.
  const std::vector<float> fresh = ClusteredSkills(200, kSkills, 7);
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacLosses losses,
                             sac->ComputeLosses(fresh, std::vector<float>(3 * 200, 0.0f)));
  double mean_reward = 0;
  for (float r : losses.intrinsic) mean_reward += r / 200;
  EXPECT_GT(mean_reward, std::log(kSkills * 0.85));
  EXPECT_LT(losses.discriminator_loss, -std::log(0.85));
}

TEST(SacDiversityTest, SmerlReportsTheFractionOfOpenGates) {
  SacConfig config = SkillConfig(DiversityMode::kSmerl, 4);
  config.diversity.smerl_target = 0;  // returns are uniform in [-100, 100]: about half open
  config.diversity.smerl_margin = 0;
  std::unique_ptr<Sac> sac = MakeSac(config);
  ASSERT_NE(sac, nullptr);
  GDAQD_ASSERT_OK_AND_ASSIGN(const SacReport report,
                             sac->TrainSteps(MakeSampler(ClusteredSkills(1000, 4, 1), 2), 20));
  EXPECT_GT(report.gate_open_fraction, 0.35);
  EXPECT_LT(report.gate_open_fraction, 0.65);
  EXPECT_NE(report.mean_intrinsic_reward, 0.0);
}

}  // namespace
}  // namespace gdaqd::server::models
