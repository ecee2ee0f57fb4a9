// TD3 and DIAYN as actor-learners end to end: an in-process coordinator on 127.0.0.1:0 and two
// real gdaqd-worker processes. The learner publishes new actor versions while the workers run
// exploration episodes with per-episode noise seeds, and every result the coordinator accepts
// echoes the version of the actor its episode ran (a mismatch would be refused as malformed).
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/result_validation.h"
#include "server/service/coordinator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd {
namespace {

constexpr absl::Duration kConnectTimeout = absl::Seconds(20);
constexpr int64_t kMaxEnvSteps = 1200;

// A metric of a snapshot by name; NaN if absent.
double MetricOf(const v1::ProgressSnapshot& progress, const std::string& name) {
  for (const v1::Metric& metric : progress.metrics()) {
    if (metric.name() == name) return metric.value();
  }
  return std::nan("");
}

class RlIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/gdaqd_rl_", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    server::CoordinatorOptions options;
    options.listen_address = "127.0.0.1:0";
    GDAQD_ASSERT_OK_AND_ASSIGN(coordinator_, server::Coordinator::Start(options));
    address_ = absl::StrCat("127.0.0.1:", coordinator_->port());
    GDAQD_ASSERT_OK_AND_ASSIGN(client_,
                               client::ExperimentClient::Connect(address_, kConnectTimeout));
    for (int w = 0; w < 2; ++w) {
      common::Subprocess::Options worker_options;
      worker_options.log_path = absl::StrCat(dir_, "/worker", w, ".log");
      GDAQD_ASSERT_OK_AND_ASSIGN(
          workers_.emplace_back(),
          common::Subprocess::Spawn({GDAQD_WORKER_BINARY, "--coordinator=" + address_,
                                     "--threads=1", absl::StrCat("--worker_id=actor", w)},
                                    worker_options));
    }
    ASSERT_TRUE(coordinator_->scheduler().WaitForWorkers(2, kConnectTimeout))
        << "the workers did not connect; logs in " << dir_;
  }

  void TearDown() override {
    workers_.clear();  // SIGKILL
    client_.reset();
    if (coordinator_ != nullptr) coordinator_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  // Runs `config_text` (an RL config without its budget) to kMaxEnvSteps and checks that the
  // actor version advanced, that the workers' results carried the versions (and skills) they ran
  // (the scheduler refuses a mismatched echo as malformed) and that evaluation episodes reached
  // the grid. Returns the final progress.
  v1::ProgressSnapshot RunAndCheck(const std::string& config_text) {
    absl::StatusOr<v1::ExperimentConfig> config = common::ParseExperimentConfig(
        absl::StrCat(config_text, " budget { max_env_steps: ", kMaxEnvSteps, " }"));
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return {};
    absl::StatusOr<std::string> id = client_->Submit(*config);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return {};
    std::vector<double> versions;
    absl::StatusOr<v1::ExperimentStatus> final_status =
        client_->Watch(*id, [&](const v1::ExperimentStatus& status) {
          const double v = MetricOf(status.progress(), "actor_version");
          if (!std::isnan(v)) versions.push_back(v);
        });
    EXPECT_TRUE(final_status.ok()) << final_status.status();
    if (!final_status.ok()) return {};
    EXPECT_EQ(final_status->state(), v1::SUCCEEDED) << final_status->error();
    const v1::ProgressSnapshot& progress = final_status->progress();
    EXPECT_GE(MetricOf(progress, "env_steps"), kMaxEnvSteps);
    EXPECT_GT(MetricOf(progress, "actor_version"), 2);
    EXPECT_GT(MetricOf(progress, "updates"), 0);
    EXPECT_FALSE(std::isnan(MetricOf(progress, "max_eval_return")));
    // Workers ran later versions and their echoes matched: nothing was refused or failed.
    const server::SchedulerStats stats = coordinator_->scheduler().stats();
    EXPECT_EQ(stats.rejected_by(server::ResultCheck::kBadIndex), 0);
    for (int check = 1; check < server::kNumResultChecks; ++check) {
      EXPECT_EQ(stats.rejected[check], 0)
          << server::ResultCheckName(static_cast<server::ResultCheck>(check));
    }
    EXPECT_FALSE(versions.empty());
    if (!versions.empty()) {
      EXPECT_LT(versions.front(), versions.back());
    }
    absl::StatusOr<client::ExportedArchive> exported = client_->Export(*id);
    EXPECT_TRUE(exported.ok()) << exported.status();
    if (exported.ok()) {
      EXPECT_FALSE(exported->elites.empty());  // evaluation episodes reached the grid
    }
    return progress;
  }

  std::string dir_;
  std::string address_;
  std::unique_ptr<server::Coordinator> coordinator_;
  std::unique_ptr<client::ExperimentClient> client_;
  std::vector<std::unique_ptr<common::Subprocess>> workers_;
};

TEST_F(RlIntegrationTest, ActorVersionAdvancesAndResultsCarryIt) {
  // Small networks and 30-step episodes: 40 rounds of 2 exploration episodes at most, a new
  // actor every 10 updates once 60 steps are collected.
  RunAndCheck(
      "name: \"td3\" seed: 3 algorithm: TD3 env { task: \"point_maze\" episode_length: 30 } "
      "policy { hidden_sizes: [16] } archive { cells_per_dim: [10, 10] } "
      "scheduler { episodes_per_lease: 1 } "
      "rl { episodes_per_round: 2 eval_every: 4 publish_every: 10 warmup_steps: 60 "
      "batch_size: 32 critic_hidden_sizes: [32, 32] device: \"cpu\" }");
}

TEST_F(RlIntegrationTest, DiaynWorkersSampleSkillConditionedPolicies) {
  // The SAC family end to end: tanh-Gaussian policies sampled at the workers with a skill per
  // episode (3 skills, round-robin), one evaluation episode per skill, skills echoed back.
  const v1::ProgressSnapshot progress = RunAndCheck(
      "name: \"diayn\" seed: 3 algorithm: DIAYN env { task: \"point_maze\" episode_length: 30 } "
      "policy { hidden_sizes: [16] num_skills: 3 } archive { cells_per_dim: [10, 10] } "
      "scheduler { episodes_per_lease: 1 } "
      "rl { episodes_per_round: 3 eval_every: 4 publish_every: 10 warmup_steps: 60 "
      "batch_size: 32 critic_hidden_sizes: [32, 32] discriminator_hidden_sizes: [16] "
      "device: \"cpu\" }");
  EXPECT_FALSE(std::isnan(MetricOf(progress, "alpha")));
  EXPECT_FALSE(std::isnan(MetricOf(progress, "discriminator_loss")));
}

}  // namespace
}  // namespace gdaqd
