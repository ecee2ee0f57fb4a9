// The worker's Prometheus metrics (docs/cluster.md §2, "Worker"): env steps, episodes, episode
// durations, threads, busy threads, the connection and reconnects. Fed through WorkerObserver by
// the rollout engine and the coordinator client; served by common::MetricsEndpoint.
#ifndef GDAQD_WORKER_METRICS_H_
#define GDAQD_WORKER_METRICS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "worker/worker_observer.h"

namespace gdaqd::worker {

// Thread-safe (prometheus-cpp's metrics are). Owns its registry; collectable() is what an endpoint
// serves and may outlive this object (it then serves the last values).
class WorkerMetrics final : public WorkerObserver {
 public:
  // Episode duration bucket upper bounds, seconds: PointMaze episodes take well under a
  // millisecond, 1,000-step ant episodes about a second.
  static const std::vector<double>& EpisodeBuckets();

  // `threads`: the worker's rollout threads (gdaqd_worker_threads).
  explicit WorkerMetrics(int threads);

  std::shared_ptr<prometheus::Collectable> collectable() const { return registry_; }

  // EpisodeObserver. Episodes that failed (their callback got an error) count as busy time only:
  // they add no episode, step or duration sample.
  void OnEpisodeStarted() override;
  void OnEpisodeFinished(absl::Duration duration, int64_t steps, bool ok) override;
  // WorkerObserver.
  void OnConnected(bool connected) override;
  void OnReconnect() override;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& env_steps_;
  prometheus::Counter& episodes_;
  prometheus::Histogram& episode_duration_;
  prometheus::Gauge& threads_;
  prometheus::Gauge& busy_threads_;
  prometheus::Gauge& connected_;
  prometheus::Counter& reconnects_;
};

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_METRICS_H_
