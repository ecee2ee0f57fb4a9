#include "server/algorithms/experiment_manager.h"

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;

constexpr absl::Duration kWait = absl::Seconds(60);

gdaqd::v1::ExperimentConfig Config(int64_t budget) {
  gdaqd::v1::ExperimentConfig config;
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(40);
  config.mutable_policy()->add_hidden_sizes(8);
  config.mutable_emitter()->set_batch_size(16);
  config.mutable_budget()->set_max_evaluations(budget);
  return config;
}

TEST(ExperimentManagerTest, RunsToExactlyTheBudget) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(75)));  // not a multiple of 16
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  gdaqd::v1::ExperimentStatus status = experiment->Status();
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), 75);
  ExperimentExport exported = experiment->Export();
  ASSERT_FALSE(exported.history.empty());
  EXPECT_EQ(exported.history.back().evaluations(), 75);
  EXPECT_EQ(exported.archive->num_filled(), status.progress().num_filled());
}

TEST(ExperimentManagerTest, InvalidConfigIsRejectedWithTheField) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  gdaqd::v1::ExperimentConfig config = Config(10);
  config.mutable_emitter()->set_batch_size(-1);
  EXPECT_THAT(manager.Submit(config), StatusIs(absl::StatusCode::kInvalidArgument,
                                               ::testing::StartsWith("emitter.batch_size")));
  EXPECT_TRUE(manager.List().empty());
}

TEST(ExperimentManagerTest, UnknownIdIsNotFound) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  EXPECT_THAT(manager.Get("exp-42"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(manager.Get("garbage"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(ExperimentManagerTest, CancelStopsARun) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(100'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  experiment->Cancel();
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  EXPECT_EQ(experiment->Status().state(), gdaqd::v1::CANCELLED);
}

TEST(ExperimentManagerTest, ListenersHearEveryIteration) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  std::atomic<int> calls{0};
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(64)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  experiment->AddListener([&] { ++calls; });
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  EXPECT_GE(calls.load(), 1);
}

}  // namespace
}  // namespace gdaqd::server
