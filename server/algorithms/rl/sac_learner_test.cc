#include "server/algorithms/rl/sac_learner.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/rl/rl_algorithm.h"
#include "server/algorithms/rl/rl_test_util.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::rl {
namespace {

using ::gdaqd::testing::StatusIs;
using testing::ExpectResumesExactly;
using testing::Make;
using testing::MetricValue;
using testing::RunRound;

// A tiny SAC-family run on point_maze: 20-step episodes, 2 exploration episodes a round (3 for
// the skill methods, so that skills wrap across rounds), an evaluation round every 3rd, an actor
// version every 10 updates after a 20-step warm-up.
gdaqd::v1::ExperimentConfig TinyConfig(gdaqd::v1::Algorithm algorithm) {
  gdaqd::v1::ExperimentConfig config;
  config.set_algorithm(algorithm);
  config.set_seed(11);
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(20);
  config.mutable_policy()->add_hidden_sizes(8);
  config.mutable_budget()->set_max_env_steps(100'000);
  gdaqd::v1::RlConfig* rl = config.mutable_rl();
  rl->add_critic_hidden_sizes(16);
  rl->add_critic_hidden_sizes(16);
  rl->set_batch_size(16);
  rl->set_warmup_steps(20);
  rl->set_publish_every(10);
  rl->set_episodes_per_round(algorithm == gdaqd::v1::SAC ? 2 : 3);
  rl->set_eval_every(3);
  rl->set_device("cpu");
  if (algorithm != gdaqd::v1::SAC) {
    config.mutable_policy()->set_num_skills(4);
    rl->add_discriminator_hidden_sizes(16);
  }
  if (algorithm == gdaqd::v1::SMERL) {
    rl->set_smerl_target(-150);  // point_maze returns are negative; some gates open
    rl->set_smerl_margin(100);
  }
  common::ApplyDefaults(&config);
  return config;
}

bool HasMetric(const QdAlgorithm& algorithm, const std::string& name) {
  for (const MetricSpec& spec : algorithm.metric_specs()) {
    if (spec.name == name) return true;
  }
  return false;
}

TEST(WidenTransitionsTest, AppendsSkillXyAndReturnBeforeTheReward) {
  // obs_dim 2, action_dim 1: rows [x, y, a, r, x', y', done, trunc].
  const std::vector<float> rows = {0.1f, 0.2f, 0.5f, -1.0f, 0.3f, 0.4f, 0, 0,
                                   0.3f, 0.4f, 0.6f, -2.0f, 0.5f, 0.6f, 1, 0};
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> wide, WidenTransitions(2, 1, 3, rows));
  const std::vector<float> expected = {
      0.1f, 0.2f, 0.5f, 3, 0.1f, 0.2f, 0.3f, 0.4f, -3.0f, -1.0f, 0.3f, 0.4f, 0, 0,
      0.3f, 0.4f, 0.6f, 3, 0.3f, 0.4f, 0.5f, 0.6f, -3.0f, -2.0f, 0.5f, 0.6f, 1, 0};
  EXPECT_EQ(wide, expected);
  EXPECT_THAT(WidenTransitions(2, 1, 0, std::vector<float>(9)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("rows of 8")));
}

TEST(SacLearnerTest, RefusesTd3) {
  gdaqd::v1::ExperimentConfig config = TinyConfig(gdaqd::v1::SAC);
  config.set_algorithm(gdaqd::v1::TD3);
  common::MlpLayout layout;
  EXPECT_THAT(SacLearner::Create(config, layout, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("TD3")));
}

TEST(SacAlgorithmTest, SacSamplesItsPolicyAndPublishesVersions) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig(gdaqd::v1::SAC);
  std::unique_ptr<QdAlgorithm> sac = Make(config);
  ASSERT_NE(sac, nullptr);
  EXPECT_TRUE(std::isnan(MetricValue(*sac, "alpha")));
  EXPECT_FALSE(HasMetric(*sac, "discriminator_loss"));
  uint64_t last_version = 0;
  for (int round = 0; round < 9; ++round) {
    const bool evaluation = (round + 1) % 3 == 0;
    const EvalRequest request = RunRound(*sac, config);
    EXPECT_GE(request.actor_version, last_version);
    last_version = request.actor_version;
    if (evaluation) {
      EXPECT_TRUE(request.episode_options.empty());  // tanh(mu), no skills
      continue;
    }
    ASSERT_EQ(request.episode_options.size(), 2u);
    for (const common::EpisodeOptions& options : request.episode_options) {
      EXPECT_TRUE(options.noise_seed.has_value());
      EXPECT_EQ(options.exploration_std, 0);  // the worker samples the tanh-Gaussian
      EXPECT_FALSE(options.skill.has_value());
    }
  }
  std::vector<Metric> values = sac->metrics();
  GDAQD_EXPECT_OK(CheckMetrics(sac->metric_specs(), &values));
  const double updates = MetricValue(*sac, "updates");
  EXPECT_GT(updates, 0);
  EXPECT_EQ(MetricValue(*sac, "actor_version"), 1 + updates / 10);
  EXPECT_GT(last_version, 1u);
  const double alpha = MetricValue(*sac, "alpha");
  EXPECT_GT(alpha, 0);
  EXPECT_LT(alpha, 1);  // the temperature moved from alpha_0 = 1
  EXPECT_FALSE(std::isnan(MetricValue(*sac, "alpha_loss")));
  EXPECT_FALSE(std::isnan(MetricValue(*sac, "critic_loss")));
  EXPECT_FALSE(std::isnan(MetricValue(*sac, "max_eval_return")));
}

TEST(SacAlgorithmTest, SkillsRoundRobinAndEvaluateOncePerSkill) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig(gdaqd::v1::DIAYN);
  std::unique_ptr<QdAlgorithm> diayn = Make(config);
  ASSERT_NE(diayn, nullptr);
  std::vector<int> exploration_skills;
  for (int round = 0; round < 6; ++round) {
    const bool evaluation = (round + 1) % 3 == 0;
    ASSERT_EQ(diayn->NextBatchSize(100), evaluation ? 4 : 3) << round;
    std::vector<EvalOutcome> outcomes;
    const EvalRequest request = RunRound(*diayn, config, &outcomes);
    ASSERT_EQ(request.episode_options.size(), evaluation ? 4u : 3u);
    for (size_t i = 0; i < request.episode_options.size(); ++i) {
      const common::EpisodeOptions& options = request.episode_options[i];
      ASSERT_TRUE(options.skill.has_value());
      EXPECT_EQ(options.noise_seed.has_value(), !evaluation);
      EXPECT_EQ(options.exploration_std, 0);
      if (evaluation) {
        EXPECT_EQ(*options.skill, static_cast<int>(i));
      } else {
        exploration_skills.push_back(*options.skill);
      }
    }
    if (evaluation) {
      // Skill-conditioned deterministic episodes from one state: the skills lead apart.
      EXPECT_NE(outcomes[0].transitions, outcomes[1].transitions);
    }
  }
  EXPECT_THAT(exploration_skills, ::testing::ElementsAre(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3));
  std::vector<Metric> values = diayn->metrics();
  GDAQD_EXPECT_OK(CheckMetrics(diayn->metric_specs(), &values));
  EXPECT_FALSE(std::isnan(MetricValue(*diayn, "discriminator_loss")));
  EXPECT_FALSE(std::isnan(MetricValue(*diayn, "intrinsic_reward")));
  EXPECT_FALSE(HasMetric(*diayn, "diversity_active"));
  EXPECT_GT(MetricValue(*diayn, "updates"), 0);
}

TEST(SacAlgorithmTest, SmerlReportsItsGate) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig(gdaqd::v1::SMERL);
  std::unique_ptr<QdAlgorithm> smerl = Make(config);
  ASSERT_NE(smerl, nullptr);
  for (int round = 0; round < 6; ++round) RunRound(*smerl, config);
  const double active = MetricValue(*smerl, "diversity_active");
  EXPECT_GE(active, 0);
  EXPECT_LE(active, 1);
  EXPECT_FALSE(std::isnan(MetricValue(*smerl, "discriminator_loss")));
}

// A checkpoint taken mid-run (wide replay rows, SAC's networks, temperature and discriminator)
// continues exactly as the run that was not interrupted.
void ExpectSacFamilyResumesExactly(gdaqd::v1::Algorithm algorithm) {
  auto [straight, resumed] = ExpectResumesExactly(TinyConfig(algorithm), /*before=*/4, /*after=*/6);
  ASSERT_NE(resumed, nullptr);
  EXPECT_GT(MetricValue(*resumed, "actor_version"), 1);
}

TEST(SacAlgorithmTest, SacResumesExactlyFromACheckpoint) {
  ExpectSacFamilyResumesExactly(gdaqd::v1::SAC);
}

TEST(SacAlgorithmTest, SmerlResumesExactlyFromACheckpoint) {
  ExpectSacFamilyResumesExactly(gdaqd::v1::SMERL);
}

}  // namespace
}  // namespace gdaqd::server::rl
