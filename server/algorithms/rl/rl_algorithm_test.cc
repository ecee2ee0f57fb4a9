#include "server/algorithms/rl/rl_algorithm.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/rl/rl_test_util.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::rl {
namespace {

using ::gdaqd::testing::StatusIs;
using testing::ExpectResumesExactly;
using testing::Make;
using testing::MetricValue;
using testing::RunRound;

// A tiny TD3 on point_maze: 20-step episodes, 2 exploration episodes a round, an evaluation
// round every 3rd, an actor version every 10 updates after a 20-step warm-up.
gdaqd::v1::ExperimentConfig TinyConfig() {
  gdaqd::v1::ExperimentConfig config;
  config.set_algorithm(gdaqd::v1::TD3);
  config.set_seed(7);
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
  rl->set_episodes_per_round(2);
  rl->set_eval_every(3);
  rl->set_device("cpu");
  common::ApplyDefaults(&config);
  return config;
}

std::string WithoutTorchArchive(const std::string& checkpoint) {
  const size_t begin = checkpoint.find(std::string("PK\x03\x04", 4));
  const size_t end = checkpoint.rfind(std::string("PK\x05\x06", 4));
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  if (begin == std::string::npos || end == std::string::npos || end < begin) return checkpoint;
  return checkpoint.substr(0, begin) + checkpoint.substr(end + 22);
}

TEST(RlAlgorithmTest, DeclaresValidMetrics) {
  std::unique_ptr<QdAlgorithm> td3 = Make(TinyConfig());
  ASSERT_NE(td3, nullptr);
  std::vector<Metric> values = td3->metrics();
  GDAQD_EXPECT_OK(CheckMetrics(td3->metric_specs(), &values));
  EXPECT_EQ(MetricValue(*td3, "actor_version"), 1);
  EXPECT_TRUE(std::isnan(MetricValue(*td3, "max_eval_return")));
}

TEST(RlAlgorithmTest, RoundsExploreWithTheirOwnNoiseAndEvaluateWithout) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  std::unique_ptr<QdAlgorithm> td3 = Make(config);
  ASSERT_NE(td3, nullptr);
  std::set<uint64_t> noise_seeds;
  for (int round = 0; round < 6; ++round) {
    const bool evaluation = (round + 1) % 3 == 0;
    ASSERT_EQ(td3->NextBatchSize(100), evaluation ? 1 : 2) << round;
    const EvalRequest request = RunRound(*td3, config);
    EXPECT_GE(request.actor_version, 1u);
    if (evaluation) {
      EXPECT_TRUE(request.episode_options.empty());
    } else {
      ASSERT_EQ(request.episode_options.size(), 2u);
      for (const common::EpisodeOptions& options : request.episode_options) {
        ASSERT_TRUE(options.noise_seed.has_value());
        EXPECT_FLOAT_EQ(options.exploration_std, 0.1f);
        EXPECT_FALSE(options.skill.has_value());
        noise_seeds.insert(*options.noise_seed);
      }
    }
  }
  EXPECT_EQ(noise_seeds.size(), 8u);  // 4 exploration rounds of 2, every seed its own
  const double env_steps = MetricValue(*td3, "env_steps");
  EXPECT_GE(env_steps, 10);   // 10 episodes of at least one step
  EXPECT_LE(env_steps, 200);  // and at most 20
  EXPECT_FALSE(std::isnan(MetricValue(*td3, "max_eval_return")));
  EXPECT_GT(td3->archive().num_filled(), 0);
}

TEST(RlAlgorithmTest, UpdatesPublishNewActorVersions) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  std::unique_ptr<QdAlgorithm> td3 = Make(config);
  ASSERT_NE(td3, nullptr);
  std::vector<float> first_actor;
  uint64_t last_version = 0;
  for (int round = 0; round < 8; ++round) {
    const EvalRequest request = RunRound(*td3, config);
    if (round == 0) first_actor.assign(request.params.begin(), request.params.end());
    EXPECT_GE(request.actor_version, last_version);
    last_version = request.actor_version;
  }
  const double updates = MetricValue(*td3, "updates");
  const double env_steps = MetricValue(*td3, "env_steps");
  EXPECT_GT(updates, 0);
  EXPECT_EQ(std::fmod(updates, 10), 0);  // whole blocks of publish_every
  EXPECT_EQ(MetricValue(*td3, "actor_version"), 1 + updates / 10);
  EXPECT_GT(last_version, 1u);
  EXPECT_LE(env_steps, 8 * 2 * 20);
  EXPECT_FALSE(std::isnan(MetricValue(*td3, "critic_loss")));
  // A new version is a different actor.
  const EvalRequest later = RunRound(*td3, config);
  EXPECT_NE(
      std::vector<float>(later.params.begin(), later.params.begin() + td3->layout().num_params()),
      std::vector<float>(first_actor.begin(), first_actor.begin() + td3->layout().num_params()));
}

TEST(RlAlgorithmTest, ExplorationNoiseReachesTheEpisodes) {
  // The two episodes of an exploration round run the same actor from the same state; only their
  // noise seeds differ, so their transitions (the noisy actions) differ.
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  std::unique_ptr<QdAlgorithm> td3 = Make(config);
  ASSERT_NE(td3, nullptr);
  std::vector<EvalOutcome> outcomes;
  const EvalRequest request = RunRound(*td3, config, &outcomes);
  ASSERT_EQ(outcomes.size(), 2u);
  ASSERT_EQ(request.episode_options.size(), 2u);
  EXPECT_FALSE(outcomes[0].transitions.empty());
  EXPECT_NE(outcomes[0].transitions, outcomes[1].transitions);
}

TEST(RlAlgorithmTest, TellWithoutAnAskedRoundFails) {
  std::unique_ptr<QdAlgorithm> td3 = Make(TinyConfig());
  ASSERT_NE(td3, nullptr);
  EXPECT_THAT(td3->Tell({}, {}), StatusIs(absl::StatusCode::kFailedPrecondition,
                                          ::testing::HasSubstr("without an asked round")));
}

TEST(RlAlgorithmTest, ResumesExactlyFromACheckpoint) {
  auto [straight, resumed] = ExpectResumesExactly(TinyConfig(), /*before=*/5, /*after=*/8);
  ASSERT_NE(straight, nullptr);
  std::stringstream end_a, end_b;
  GDAQD_ASSERT_OK(straight->SaveCheckpoint(end_a));
  GDAQD_ASSERT_OK(resumed->SaveCheckpoint(end_b));
  // Byte for byte, except the learner's torch archive, which stores the same Adam states in an
  // order that follows parameter addresses; the networks' behaviour is compared by
  // ExpectResumesExactly (every round's actor, and the losses among the metrics).
  EXPECT_EQ(WithoutTorchArchive(end_a.str()), WithoutTorchArchive(end_b.str()));
}

TEST(RlAlgorithmTest, RefusesAnotherAlgorithmsCheckpoint) {
  std::unique_ptr<QdAlgorithm> td3 = Make(TinyConfig());
  ASSERT_NE(td3, nullptr);
  std::stringstream garbage("GDQDPGA3 and the rest");
  EXPECT_THAT(td3->RestoreCheckpoint(garbage),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace gdaqd::server::rl
