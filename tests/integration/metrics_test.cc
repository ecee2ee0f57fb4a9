// /metrics end to end (docs/cluster.md §2): a real gdaqd-server and a real gdaqd-worker process
// with --metrics_listen 127.0.0.1:0 run PointMaze experiments; their /metrics, fetched over HTTP
// and parsed as Prometheus would, hold every metric of the tables with its type and labels, values
// that move, and no series of a finished experiment.
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/subprocess.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster_metrics.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd {
namespace {

using ::gdaqd::testing::ExpectBoundedLabels;
using ::gdaqd::testing::ExpectFamily;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::PromExposition;
using ::testing::Ge;
using ::testing::Gt;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kRunTimeout = absl::Seconds(90);

v1::ExperimentConfig Config(int64_t budget) {
  auto config =
      common::ParseExperimentConfig(absl::StrCat(R"pb(
                                                   name: "metrics"
                                                   env { task: "point_maze" episode_length: 50 }
                                                   archive { cells_per_dim: [ 10, 10 ] }
                                                   emitter { batch_size: 32 }
                                                   initial_population: 32
                                                   budget { max_evaluations:)pb",
                                                 budget, R"pb(}
                                                              seed: 5
  )pb"));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// Reads the child's stdout until a line "<key>=N"; returns N, or 0 after a failure.
int ReadPortLine(common::Subprocess& process, const std::string& key) {
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> line = process.ReadLine(deadline - absl::Now());
    if (!line.ok()) break;
    int port = 0;
    if (absl::StartsWith(*line, key + "=") &&
        absl::SimpleAtoi(line->substr(key.size() + 1), &port)) {
      return port;
    }
  }
  ADD_FAILURE() << "no " << key << " line";
  return 0;
}

std::unique_ptr<common::Subprocess> Spawn(const std::vector<std::string>& argv,
                                          const std::string& log) {
  common::Subprocess::Options options;
  options.capture_stdout = true;
  options.log_path = log;
  absl::StatusOr<std::unique_ptr<common::Subprocess>> process =
      common::Subprocess::Spawn(argv, options);
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? std::move(process).value() : nullptr;
}

PromExposition Scrape(int port) {
  absl::StatusOr<std::string> body = ::gdaqd::testing::HttpGet(port, "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
  if (!body.ok()) return {};
  absl::StatusOr<PromExposition> parsed = ::gdaqd::testing::ParsePrometheusText(*body);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : PromExposition();
}

double ValueOr(const PromExposition& exposition, const std::string& name,
               const std::map<std::string, std::string>& labels = {}) {
  absl::StatusOr<double> value = exposition.Value(name, labels);
  EXPECT_TRUE(value.ok()) << name << ": " << value.status();
  return value.ok() ? *value : -1;
}

bool HasExperiment(const PromExposition& exposition, const std::string& id) {
  for (const auto& sample : exposition.samples) {
    auto it = sample.labels.find("experiment");
    if (it != sample.labels.end() && it->second == id) return true;
  }
  return false;
}

// The latest iteration a WatchExperiment stream reported, for waiting without polling.
class IterationWatch {
 public:
  void Set(int64_t iteration) {
    absl::MutexLock lock(&mu_);
    iteration_ = std::max(iteration_, iteration);
  }
  // Waits until the reported iteration reaches `target`; returns whether it did in time.
  bool WaitFor(int64_t target) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, target]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return iteration_ >= target; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kRunTimeout);
  }

 private:
  absl::Mutex mu_;
  int64_t iteration_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(MetricsTest, ServerAndWorkerServeTheDocumentedMetrics) {
  const std::string dir = ::gdaqd::testing::FreshTempDir("metrics");
  std::unique_ptr<common::Subprocess> server = Spawn(
      {GDAQD_SERVER_BINARY, "--listen=127.0.0.1:0", "--port_file=-", "--metrics_listen=127.0.0.1:0",
       absl::StrCat("--state_dir=", dir, "/state"), "--checkpoint_interval=0s"},
      dir + "/server.log");
  ASSERT_NE(server, nullptr);
  const int port = ReadPortLine(*server, "GDAQD_PORT");
  const int server_metrics = ReadPortLine(*server, "GDAQD_METRICS_PORT");
  ASSERT_GT(port, 0);
  ASSERT_GT(server_metrics, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::unique_ptr<common::Subprocess> worker =
      Spawn({GDAQD_WORKER_BINARY, absl::StrCat("--coordinator=", address), "--threads=1",
             absl::StrCat("--worker_id=metrics-", getpid()), "--metrics_listen=127.0.0.1:0",
             "--port_file=-"},
            dir + "/worker.log");
  ASSERT_NE(worker, nullptr);
  const int worker_metrics = ReadPortLine(*worker, "GDAQD_METRICS_PORT");
  ASSERT_GT(worker_metrics, 0);

  GDAQD_ASSERT_OK_AND_ASSIGN(auto client,
                             client::ExperimentClient::Connect(address, kStartTimeout));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto watcher,
                             client::ExperimentClient::Connect(address, kStartTimeout));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string short_id, client->Submit(Config(128)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string long_id, client->Submit(Config(100'000'000)));
  IterationWatch long_iterations;
  absl::StatusOr<v1::ExperimentStatus> long_final;
  common::Thread watch_thread("watch", [&] {
    long_final = watcher->Watch(long_id, [&](const v1::ExperimentStatus& s) {
      long_iterations.Set(s.progress().iteration());
    });
  });
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus short_final,
                             client->Watch(short_id, [](const v1::ExperimentStatus&) {}));
  ASSERT_EQ(short_final.state(), v1::SUCCEEDED) << short_final.error();
  ASSERT_TRUE(long_iterations.WaitFor(2));

  // Every metric of both tables, with its type and labels; only bounded label values.
  const PromExposition first = Scrape(server_metrics);
  for (const auto& spec : ::gdaqd::testing::CoordinatorMetricSpecs()) ExpectFamily(first, spec);
  ExpectBoundedLabels(first, {long_id});
  EXPECT_FALSE(HasExperiment(first, short_id)) << "the finished experiment's series remain";
  EXPECT_EQ(ValueOr(first, "gdaqd_experiments", {{"state", "succeeded"}}), 1);
  EXPECT_EQ(ValueOr(first, "gdaqd_experiments", {{"state", "running"}}), 1);
  EXPECT_EQ(
      ValueOr(first, "gdaqd_experiment_state", {{"experiment", long_id}, {"state", "running"}}), 1);
  EXPECT_EQ(ValueOr(first, "gdaqd_workers_connected"), 1);
  EXPECT_GE(ValueOr(first, "gdaqd_checkpoint_duration_seconds_count"), 3);
  EXPECT_GT(ValueOr(first, "gdaqd_scheduler_completed_episodes_total"), 128);
  const double first_iterations =
      ValueOr(first, "gdaqd_experiment_iterations_total", {{"experiment", long_id}});
  const double first_evaluations =
      ValueOr(first, "gdaqd_experiment_evaluations_total", {{"experiment", long_id}});
  EXPECT_GE(first_iterations, 2);
  EXPECT_GE(ValueOr(first, "gdaqd_experiment_phase_duration_seconds_count",
                    {{"experiment", long_id}, {"phase", "evaluation"}}),
            2);
  const PromExposition worker_first = Scrape(worker_metrics);
  for (const auto& spec : ::gdaqd::testing::WorkerMetricSpecs()) ExpectFamily(worker_first, spec);
  EXPECT_EQ(ValueOr(worker_first, "gdaqd_worker_connected"), 1);
  EXPECT_EQ(ValueOr(worker_first, "gdaqd_worker_threads"), 1);
  EXPECT_EQ(ValueOr(worker_first, "gdaqd_worker_reconnects_total"), 0);
  const double first_steps = ValueOr(worker_first, "gdaqd_worker_env_steps_total");
  EXPECT_GT(first_steps, 0);
  EXPECT_GT(ValueOr(worker_first, "gdaqd_worker_episodes_total"), 128);
  EXPECT_GT(ValueOr(worker_first, "gdaqd_worker_episode_duration_seconds_count"), 128);

  // Counters grow as the run goes on.
  ASSERT_TRUE(long_iterations.WaitFor(static_cast<int64_t>(first_iterations) + 1));
  const PromExposition second = Scrape(server_metrics);
  EXPECT_GT(ValueOr(second, "gdaqd_experiment_evaluations_total", {{"experiment", long_id}}),
            first_evaluations);
  // The worker may have finished the next iteration's episodes before its first scrape, so its
  // counter is polled (the long experiment keeps asking for episodes) rather than compared at
  // the next iteration.
  double steps = first_steps;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
       steps <= first_steps && absl::Now() < deadline; absl::SleepFor(absl::Milliseconds(50))) {
    steps = ValueOr(Scrape(worker_metrics), "gdaqd_worker_env_steps_total");
  }
  EXPECT_GT(steps, first_steps);

  // Cancelled: its series are gone from the next scrape.
  GDAQD_ASSERT_OK(client->Cancel(long_id).status());
  watch_thread.Join();
  ASSERT_TRUE(long_final.ok()) << long_final.status();
  EXPECT_EQ(long_final->state(), v1::CANCELLED);
  const PromExposition last = Scrape(server_metrics);
  EXPECT_FALSE(HasExperiment(last, long_id));
  ExpectBoundedLabels(last, {});
  EXPECT_EQ(ValueOr(last, "gdaqd_experiments", {{"state", "cancelled"}}), 1);

  EXPECT_EQ(worker->Stop(absl::Seconds(20)), 0);
  EXPECT_EQ(server->Stop(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace gdaqd
