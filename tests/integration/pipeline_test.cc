// End-to-end: a real gdaqd-server and real gdaqd-worker processes on 127.0.0.1, driven through
// the client library and the gdaqd CLI exactly as a user would.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "client/progress.h"
#include "client/replay.h"
#include "client/results/csv.h"
#include "client/results_folder.h"
#include "common/config/config.h"
#include "common/subprocess.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd {
namespace {

using client::ExperimentClient;
using client::LocalCluster;
using client::LocalClusterOptions;

constexpr absl::Duration kConnectTimeout = absl::Seconds(20);
constexpr absl::Duration kProcessTimeout = absl::Seconds(120);

std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gdaqd_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

LocalClusterOptions ClusterOptions(const std::string& log_dir) {
  LocalClusterOptions options;
  options.workers = 2;
  options.threads_per_worker = 1;
  options.log_dir = log_dir;
  options.server_binary = GDAQD_SERVER_BINARY;
  options.worker_binary = GDAQD_WORKER_BINARY;
  return options;
}

v1::ExperimentConfig SmallConfig(int episode_length, int64_t budget) {
  auto config =
      common::ParseExperimentConfig(absl::StrCat(R"pb(
                                                   name: "integration"
                                                   env { task: "point_maze" episode_length:)pb",
                                                 episode_length, R"pb(}
                                                                      archive { cells_per_dim: [20, 20] }
    budget { max_evaluations: )pb",
                                                 budget, R"pb(}
                                                              seed: 3
  )pb"));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST(PipelineTest, MapElitesOverGrpcExportsAndReloadsIdentically) {
  const std::string dir = FreshDir("pipeline");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             ExperimentClient::Connect(cluster->address(), kConnectTimeout));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(SmallConfig(100, 1500)));
  int updates = 0;
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus final_status,
                             client->Watch(id, [&](const v1::ExperimentStatus&) { ++updates; }));
  ASSERT_EQ(final_status.state(), v1::SUCCEEDED) << final_status.error();
  EXPECT_EQ(final_status.progress().evaluations(), 1500);
  EXPECT_GT(updates, 1);
  EXPECT_GT(final_status.progress().num_filled(), 20) << "archive is trivial";
  EXPECT_GT(final_status.progress().qd_score(), 0);

  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive exported, client->Export(id));
  ASSERT_EQ(static_cast<int64_t>(exported.elites.size()), final_status.progress().num_filled());
  ASSERT_EQ(exported.header.history_size(), final_status.progress().iteration());
  const std::string results = dir + "/results";
  GDAQD_ASSERT_OK(client::WriteResultsFolder(results, exported));
  for (const char* file : {"config.textproto", "metrics.csv", "archive.csv", "archive_params.npy",
                           "archive.svg", "progress.svg"}) {
    EXPECT_TRUE(std::filesystem::exists(results + "/" + file)) << file;
  }

  GDAQD_ASSERT_OK_AND_ASSIGN(client::ResultsFolder loaded, client::LoadResultsFolder(results));
  ASSERT_EQ(loaded.archive.size(), exported.elites.size());
  const int64_t num_params = exported.header.num_params();
  ASSERT_EQ(loaded.params.cols, num_params);
  for (size_t i = 0; i < exported.elites.size(); ++i) {
    const v1::Elite& elite = exported.elites[i];
    EXPECT_EQ(loaded.archive[i].cell, elite.cell());
    EXPECT_TRUE(SameBits(loaded.archive[i].fitness, elite.fitness()));
    for (int d = 0; d < elite.behavior_descriptor_size(); ++d) {
      EXPECT_TRUE(SameBits(loaded.archive[i].descriptor[d], elite.behavior_descriptor(d)));
    }
    EXPECT_EQ(std::memcmp(&loaded.params.data[i * num_params], elite.params().data(),
                          num_params * sizeof(float)),
              0)
        << "params of elite " << i;
  }
  ASSERT_EQ(loaded.metrics.size(), static_cast<size_t>(exported.header.history_size()));
  EXPECT_EQ(loaded.metrics.back().evaluations, 1500);

  // An elite evaluated on a worker process replays bit-identically in this process.
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ReplayResult replay,
                             client::ReplayElite(results, exported.elites.back().cell(), ""));
  EXPECT_TRUE(replay.matches) << "fitness " << replay.fitness << " vs " << replay.archived_fitness;
  EXPECT_TRUE(std::filesystem::exists(replay.trajectory_path));
}

// GDA-QD over the real system: transitions stream from worker processes into the coordinator's
// replay buffer, the ensemble and critic train on them, imagination picks what the workers
// evaluate, and the learned-model columns reach metrics.csv.
TEST(PipelineTest, GdaQdOverGrpcImaginesTrainsAndReportsTheModels) {
  const std::string dir = FreshDir("gda_qd");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             ExperimentClient::Connect(cluster->address(), kConnectTimeout));
  v1::ExperimentConfig config = SmallConfig(50, 300);
  config.set_algorithm(v1::GDA_QD);
  config.mutable_emitter()->set_batch_size(50);
  config.set_initial_population(50);
  auto* pga = config.mutable_pga();
  pga->add_critic_hidden_sizes(32);
  pga->add_critic_hidden_sizes(32);
  pga->set_critic_steps(20);
  pga->set_pg_steps(5);
  pga->set_device("cpu");
  auto* model = config.mutable_model();
  model->add_ensemble_hidden_sizes(64);
  model->add_ensemble_hidden_sizes(64);
  model->set_max_train_steps(100);
  model->set_imagined_generations(10);
  model->set_retrain_every(2);
  common::ApplyDefaults(&config);
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus final_status,
                             client->Watch(id, [](const v1::ExperimentStatus&) {}));
  ASSERT_EQ(final_status.state(), v1::SUCCEEDED) << final_status.error();
  const v1::ProgressSnapshot& progress = final_status.progress();
  EXPECT_EQ(progress.evaluations(), 300);
  EXPECT_GT(progress.imagined_evaluations(), 0);
  EXPECT_GE(progress.model_train_calls(), 3);  // after iterations 1, 3 and 5
  EXPECT_TRUE(std::isfinite(progress.model_holdout_loss()));
  EXPECT_TRUE(std::isfinite(progress.critic_loss()));
  // Named metrics: the algorithm's own list, in its order; the deprecated fixed fields (what an
  // older client reads) hold the same values; a metric with no fixed field is there too.
  ASSERT_GT(progress.metrics_size(), 0);
  EXPECT_EQ(progress.metrics(0).name(), "imagined_evaluations");
  EXPECT_THAT(client::ProgressMetric(progress, "imagined_evaluations"),
              ::testing::Optional(static_cast<double>(progress.imagined_evaluations())));
  EXPECT_THAT(client::ProgressMetric(progress, "critic_loss"),
              ::testing::Optional(progress.critic_loss()));
  EXPECT_THAT(client::ProgressMetric(progress, "critic_train_calls"),
              ::testing::Optional(::testing::Ge(1.0)));

  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive exported, client->Export(id));
  const std::string results = dir + "/results";
  GDAQD_ASSERT_OK(client::WriteResultsFolder(results, exported));
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ResultsFolder loaded, client::LoadResultsFolder(results));
  ASSERT_EQ(loaded.metrics.size(), 6u);
  EXPECT_EQ(loaded.metrics.front().imagined_evaluations, 0);  // the initial population
  EXPECT_GT(loaded.metrics.back().imagined_evaluations, 0);
  EXPECT_TRUE(std::isfinite(loaded.metrics.back().model_holdout_mse));
  // Metrics without a fixed column get columns of their own.
  EXPECT_THAT(client::FindMetric(loaded.metrics.back(), "critic_train_calls"),
              ::testing::Optional(::testing::Ge(1.0)));
  EXPECT_THAT(client::FindMetric(loaded.metrics.back(), "model_train_calls"),
              ::testing::Optional(static_cast<double>(progress.model_train_calls())));
  // Every elite came from a real evaluation: it replays to its archived fitness.
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ReplayResult replay,
                             client::ReplayElite(results, exported.elites.back().cell(), ""));
  EXPECT_TRUE(replay.matches) << "fitness " << replay.fitness << " vs " << replay.archived_fitness;
}

TEST(PipelineTest, KilledWorkerLosesNoEvaluationAndCountsNoneTwice) {
  const std::string dir = FreshDir("kill");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             ExperimentClient::Connect(cluster->address(), kConnectTimeout));
  constexpr int64_t kBudget = 2000;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(SmallConfig(1000, kBudget)));
  absl::Notification running;
  absl::Notification killed;
  common::Thread killer("killer", [&] {
    if (!running.WaitForNotificationWithTimeout(kProcessTimeout)) return;
    // Freeze the worker first: the scheduler keeps leasing it episodes (it has free capacity)
    // that it cannot finish, so when it dies it certainly holds unfinished leases, whatever the
    // timing. Then kill it without warning.
    cluster->worker(0).Signal(SIGSTOP);
    absl::SleepFor(absl::Milliseconds(300));
    cluster->worker(0).Signal(SIGKILL);
    killed.Notify();
  });
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus final_status,
                             client->Watch(id, [&](const v1::ExperimentStatus& s) {
                               if (s.progress().evaluations() >= 300 && !running.HasBeenNotified())
                                 running.Notify();
                             }));
  ASSERT_TRUE(killed.HasBeenNotified());
  ASSERT_EQ(final_status.state(), v1::SUCCEEDED) << final_status.error();
  EXPECT_EQ(final_status.progress().evaluations(), kBudget);
  EXPECT_GT(final_status.progress().requeued_episodes(), 0)
      << "the killed worker held no lease: the test did not exercise re-queueing";
  EXPECT_EQ(final_status.connected_workers(), 1);
  // Each iteration counted its whole batch exactly once.
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive exported, client->Export(id));
  int64_t previous = 0;
  for (const v1::ProgressSnapshot& row : exported.header.history()) {
    EXPECT_EQ(row.evaluations() - previous, 100) << "iteration " << row.iteration();
    previous = row.evaluations();
  }
}

TEST(PipelineTest, TwoExperimentsShareTheWorkers) {
  const std::string dir = FreshDir("shared");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             ExperimentClient::Connect(cluster->address(), kConnectTimeout));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string first, client->Submit(SmallConfig(100, 700)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string second, client->Submit(SmallConfig(50, 900)));
  EXPECT_NE(first, second);
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus a,
                             client->Watch(first, [](const v1::ExperimentStatus&) {}));
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus b,
                             client->Watch(second, [](const v1::ExperimentStatus&) {}));
  EXPECT_EQ(a.state(), v1::SUCCEEDED) << a.error();
  EXPECT_EQ(b.state(), v1::SUCCEEDED) << b.error();
  EXPECT_EQ(a.progress().evaluations(), 700);
  EXPECT_EQ(b.progress().evaluations(), 900);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<v1::ExperimentStatus> all, client->List());
  EXPECT_EQ(all.size(), 2u);
}

TEST(PipelineTest, CancelledExperimentKeepsItsArchive) {
  const std::string dir = FreshDir("cancel");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             ExperimentClient::Connect(cluster->address(), kConnectTimeout));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(SmallConfig(250, 100'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(
      v1::ExperimentStatus final_status, client->Watch(id, [&](const v1::ExperimentStatus& s) {
        if (s.progress().evaluations() >= 300) {
          absl::StatusOr<v1::ExperimentStatus> cancelled = client->Cancel(id);
          EXPECT_TRUE(cancelled.ok()) << cancelled.status();
        }
      }));
  EXPECT_EQ(final_status.state(), v1::CANCELLED);
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive exported, client->Export(id));
  EXPECT_GT(exported.elites.size(), 0u);
  EXPECT_EQ(static_cast<int64_t>(exported.elites.size()), final_status.progress().num_filled());
}

// env.action_map reaches the worker processes: every elite of a run under the non-default map
// (QDax >= v0.2.0's), evaluated by workers, replays bit-identically in this process, where
// ReplayElite builds its environment from the results folder's config. A worker that ignored the
// map would have stepped the paper's map, and the replays would not match.
TEST(PipelineTest, WorkersEvaluateWithTheConfigsActionMap) {
  const std::string dir = FreshDir("action_map");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             ExperimentClient::Connect(cluster->address(), kConnectTimeout));
  v1::ExperimentConfig config = SmallConfig(60, 300);
  config.mutable_env()->set_action_map(v1::EnvConfig::CLIP_1_DIVIDE_10);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client->Submit(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus final_status,
                             client->Watch(id, [](const v1::ExperimentStatus&) {}));
  ASSERT_EQ(final_status.state(), v1::SUCCEEDED) << final_status.error();
  EXPECT_EQ(final_status.config().env().action_map(), v1::EnvConfig::CLIP_1_DIVIDE_10);
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive exported, client->Export(id));
  ASSERT_GT(exported.elites.size(), 10u);
  const std::string results = dir + "/results";
  GDAQD_ASSERT_OK(client::WriteResultsFolder(results, exported));
  for (const v1::Elite& elite : exported.elites) {
    GDAQD_ASSERT_OK_AND_ASSIGN(client::ReplayResult replay,
                               client::ReplayElite(results, elite.cell(), ""));
    EXPECT_TRUE(replay.matches)
        << "cell " << elite.cell() << ": fitness " << replay.fitness << " vs "
        << replay.archived_fitness
        << " (does worker/coordinator_client.cc put EnvironmentOptionsFromConfig(assignment.env())"
           " into its JobContext?)";
  }
  cluster.reset();  // stops the processes before their log folder goes
  std::filesystem::remove_all(dir);
}

TEST(PipelineTest, CliRunWritesTheResultsFolderAndReplays) {
  const std::string dir = FreshDir("cli");
  const std::string config_path = dir + "/small.textproto";
  {
    std::FILE* f = std::fopen(config_path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(
        "env { task: \"point_maze\" episode_length: 60 }\n"
        "archive { cells_per_dim: [10, 10] }\n"
        "budget { max_evaluations: 400 }\n",
        f);
    std::fclose(f);
  }
  const std::string out = dir + "/run";
  common::Subprocess::Options options;
  options.log_path = dir + "/cli.log";
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto run,
      common::Subprocess::Spawn(
          {GDAQD_CLIENT_BINARY, "run", config_path, "--out=" + out, "--workers=2"}, options));
  GDAQD_ASSERT_OK_AND_ASSIGN(int code, run->Wait(kProcessTimeout));
  ASSERT_EQ(code, 0) << "see " << options.log_path;
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ResultsFolder loaded, client::LoadResultsFolder(out));
  EXPECT_EQ(loaded.metrics.back().evaluations, 400);
  ASSERT_FALSE(loaded.archive.empty());

  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto replay, common::Subprocess::Spawn({GDAQD_CLIENT_BINARY, "replay", out,
                                              absl::StrCat("--cell=", loaded.archive.front().cell)},
                                             options));
  GDAQD_ASSERT_OK_AND_ASSIGN(int replay_code, replay->Wait(kProcessTimeout));
  EXPECT_EQ(replay_code, 0) << "replay did not match; see " << options.log_path;
  EXPECT_TRUE(std::filesystem::exists(
      absl::StrCat(out, "/trajectory_", loaded.archive.front().cell, ".csv")));
}

TEST(PipelineTest, CliReportsServerErrorsAsOneLineWithTheCode) {
  const std::string dir = FreshDir("cli_errors");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto cluster, LocalCluster::Start(ClusterOptions(dir + "/logs")));
  common::Subprocess::Options options;
  options.log_path = dir + "/status.log";
  GDAQD_ASSERT_OK_AND_ASSIGN(auto status,
                             common::Subprocess::Spawn({GDAQD_CLIENT_BINARY, "status", "exp-99",
                                                        "--coordinator=" + cluster->address()},
                                                       options));
  GDAQD_ASSERT_OK_AND_ASSIGN(int code, status->Wait(kProcessTimeout));
  EXPECT_EQ(code, 1);
  std::ifstream log(options.log_path);
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, ::testing::HasSubstr("error: NOT_FOUND: no experiment 'exp-99'"));
}

}  // namespace
}  // namespace gdaqd
