// The environment-step budget (budget.max_env_steps) of Experiment, over a LocalEvaluator.
#include <memory>

#include "absl/time/time.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/experiment.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr int kEpisodeLength = 40;
constexpr int kBatch = 16;

gdaqd::v1::ExperimentConfig Config(int64_t max_evaluations, int64_t max_env_steps) {
  gdaqd::v1::ExperimentConfig config;
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(kEpisodeLength);
  config.mutable_policy()->add_hidden_sizes(8);
  config.mutable_emitter()->set_batch_size(kBatch);
  config.mutable_budget()->set_max_evaluations(max_evaluations);
  config.mutable_budget()->set_max_env_steps(max_env_steps);
  common::ApplyDefaults(&config);
  return config;
}

// Runs `config` to the end and returns its final status.
gdaqd::v1::ExperimentStatus RunToEnd(const gdaqd::v1::ExperimentConfig& config) {
  LocalEvaluator evaluator(1);
  absl::StatusOr<std::unique_ptr<Experiment>> experiment =
      Experiment::Create(1, config, &evaluator, ExperimentOptions());
  EXPECT_TRUE(experiment.ok()) << experiment.status();
  if (!experiment.ok()) return {};
  (*experiment)->Start();
  EXPECT_TRUE((*experiment)->WaitFinished(kWait));
  return (*experiment)->Status();
}

TEST(ExperimentEnvStepsTest, StopsOnceTheEnvironmentStepsAreSpent) {
  // Every episode takes between 1 and 40 steps, so 16 episodes take at least 16: a budget of 16
  // steps ends the run after its first batch, long before its 1000 evaluations.
  const gdaqd::v1::ExperimentStatus status = RunToEnd(Config(1000, kBatch));
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), kBatch);
  EXPECT_EQ(status.progress().iteration(), 1);
}

TEST(ExperimentEnvStepsTest, ZeroMeansEvaluationsAlone) {
  const gdaqd::v1::ExperimentStatus status = RunToEnd(Config(3 * kBatch, 0));
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), 3 * kBatch);
}

TEST(ExperimentEnvStepsTest, EvaluationsStillBoundTheRun) {
  const gdaqd::v1::ExperimentStatus status = RunToEnd(Config(2 * kBatch, 1'000'000));
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), 2 * kBatch);
}

}  // namespace
}  // namespace gdaqd::server
