#include "worker/metrics.h"

namespace gdaqd::worker {
namespace {

prometheus::Counter& NewCounter(prometheus::Registry& registry, const char* name,
                                const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Gauge& NewGauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

const std::vector<double>& WorkerMetrics::EpisodeBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30};
  return *kBuckets;
}

WorkerMetrics::WorkerMetrics(int threads)
    : registry_(std::make_shared<prometheus::Registry>()),
      env_steps_(NewCounter(*registry_, "gdaqd_worker_env_steps_total",
                            "Environment steps counted in finished episodes.")),
      episodes_(NewCounter(*registry_, "gdaqd_worker_episodes_total", "Episodes finished.")),
      episode_duration_(prometheus::BuildHistogram()
                            .Name("gdaqd_worker_episode_duration_seconds")
                            .Help("Seconds one episode took on a rollout thread.")
                            .Register(*registry_)
                            .Add({}, EpisodeBuckets())),
      threads_(NewGauge(*registry_, "gdaqd_worker_threads", "Rollout threads.")),
      busy_threads_(
          NewGauge(*registry_, "gdaqd_worker_busy_threads", "Rollout threads running an episode.")),
      connected_(NewGauge(*registry_, "gdaqd_worker_connected",
                          "1 while the stream to the coordinator is open, else 0.")),
      reconnects_(NewCounter(*registry_, "gdaqd_worker_reconnects_total",
                             "Connection attempts after a stream failed or could not open.")) {
  threads_.Set(threads);
}

void WorkerMetrics::OnEpisodeStarted() { busy_threads_.Increment(); }

void WorkerMetrics::OnEpisodeFinished(absl::Duration duration, int64_t steps, bool ok) {
  busy_threads_.Decrement();
  if (!ok) return;
  episodes_.Increment();
  env_steps_.Increment(static_cast<double>(steps));
  episode_duration_.Observe(absl::ToDoubleSeconds(duration));
}

void WorkerMetrics::OnConnected(bool connected) { connected_.Set(connected ? 1 : 0); }

void WorkerMetrics::OnReconnect() { reconnects_.Increment(); }

}  // namespace gdaqd::worker
