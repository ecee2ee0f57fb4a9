#include "worker/metrics.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "common/mlp_policy.h"
#include "common/task.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "tests/testing/cluster_metrics.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"
#include "worker/coordinator_client.h"
#include "worker/sim/rollout_engine.h"

namespace gdaqd::worker {
namespace {

using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::PromExposition;

constexpr absl::Duration kWait = absl::Seconds(60);

PromExposition Scrape(const WorkerMetrics& metrics) {
  const std::string text = prometheus::TextSerializer().Serialize(metrics.collectable()->Collect());
  absl::StatusOr<PromExposition> parsed = ::gdaqd::testing::ParsePrometheusText(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  return parsed.ok() ? *std::move(parsed) : PromExposition();
}

std::shared_ptr<const JobContext> PointMazeContext() {
  auto context = std::make_shared<JobContext>();
  context->task = "point_maze";
  context->episode_length = 50;
  const absl::StatusOr<common::TaskSpec> spec = common::GetTaskSpec("point_maze", 50);
  EXPECT_TRUE(spec.ok()) << spec.status();
  context->layout.obs_dim = spec->obs_dim;
  context->layout.action_dim = spec->action_dim;
  context->layout.hidden_sizes = {8};
  return context;
}

TEST(WorkerMetricsTest, HasTheTableFamiliesBeforeAnything) {
  WorkerMetrics metrics(3);
  const PromExposition scraped = Scrape(metrics);
  for (const auto& spec : ::gdaqd::testing::WorkerMetricSpecs()) {
    ::gdaqd::testing::ExpectFamily(scraped, spec);
  }
  EXPECT_THAT(scraped.Value("gdaqd_worker_threads"), IsOkAndHolds(3.0));
  EXPECT_THAT(scraped.Value("gdaqd_worker_connected"), IsOkAndHolds(0.0));
  EXPECT_THAT(scraped.Value("gdaqd_worker_env_steps_total"), IsOkAndHolds(0.0));
}

// A real rollout engine reports every episode it runs: steps equal the results' lengths, failed
// jobs add no episode, and no thread stays busy.
TEST(WorkerMetricsTest, CountsTheRolloutEnginesEpisodesAndSteps) {
  WorkerMetrics metrics(2);
  constexpr int kGood = 6;
  absl::BlockingCounter done(kGood + 1);
  absl::Mutex mu;
  int64_t steps = 0;
  auto engine = RolloutEngine::Create(
      2,
      [&](const EpisodeJob&, absl::StatusOr<const common::EpisodeResult*> result) {
        if (result.ok()) {
          absl::MutexLock lock(&mu);
          steps += (*result)->length;
        }
        done.DecrementCount();
      },
      &metrics);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::shared_ptr<const JobContext> context = PointMazeContext();
  auto params = std::make_shared<std::vector<float>>(context->layout.num_params());
  common::InitLecunUniform(context->layout, 7, absl::MakeSpan(*params));
  std::vector<EpisodeJob> jobs(kGood + 1);
  for (int i = 0; i <= kGood; ++i) {
    jobs[i].context = context;
    jobs[i].seed = i;
    jobs[i].params = absl::MakeConstSpan(*params);
    jobs[i].params_owner = params;
  }
  jobs[kGood].params = jobs[kGood].params.subspan(1);  // wrong parameter count: fails
  GDAQD_ASSERT_OK((*engine)->Submit(std::move(jobs)));
  done.Wait();
  (*engine)->Stop();  // every observer call has returned

  const PromExposition scraped = Scrape(metrics);
  EXPECT_THAT(scraped.Value("gdaqd_worker_episodes_total"), IsOkAndHolds(kGood));
  EXPECT_GT(steps, 0);
  EXPECT_THAT(scraped.Value("gdaqd_worker_env_steps_total"),
              IsOkAndHolds(static_cast<double>(steps)));
  EXPECT_THAT(scraped.Value("gdaqd_worker_episode_duration_seconds_count"), IsOkAndHolds(kGood));
  EXPECT_THAT(scraped.Value("gdaqd_worker_busy_threads"), IsOkAndHolds(0.0));
}

// A port that refuses connections: bound, never listening, held until the test ends.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// The real coordinator client reports each reconnection attempt, and never a connection.
TEST(WorkerMetricsTest, CountsTheClientsReconnects) {
  RefusingPort refusing;
  WorkerMetrics metrics(1);
  CoordinatorClientOptions options;
  options.coordinator_address = absl::StrCat("127.0.0.1:", refusing.port());
  options.worker_id = "metrics-test";
  options.max_reconnect_attempts = 2;
  options.initial_backoff = absl::Milliseconds(1);
  options.max_backoff = absl::Milliseconds(2);
  options.connect_timeout = absl::Seconds(5);
  options.observer = &metrics;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(options));
  EXPECT_FALSE(client->Run().ok());  // gives up after 1 + 2 attempts
  const PromExposition scraped = Scrape(metrics);
  EXPECT_THAT(scraped.Value("gdaqd_worker_reconnects_total"), IsOkAndHolds(2.0));
  EXPECT_THAT(scraped.Value("gdaqd_worker_connected"), IsOkAndHolds(0.0));
}

}  // namespace
}  // namespace gdaqd::worker
