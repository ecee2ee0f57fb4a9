// The coordinator's metrics, put together: the event recorder (the experiments' observer), the
// scrape-time collector and the /metrics endpoint of --metrics_listen (docs/cluster.md §2).
#ifndef GDAQD_SERVER_METRICS_COORDINATOR_METRICS_H_
#define GDAQD_SERVER_METRICS_COORDINATOR_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics/metrics_endpoint.h"
#include "server/algorithms/experiment_manager.h"
#include "server/algorithms/experiment_observer.h"
#include "server/metrics/coordinator_collector.h"
#include "server/metrics/metrics_recorder.h"
#include "server/scheduler/scheduler.h"

namespace gdaqd::server::metrics {

// Thread-safe. Lifetimes, for an owner that also owns the manager (Coordinator):
//   Start() before the manager (the manager's options take observer()), SetManager() once the
//   manager exists; StopServing() before destroying the manager, and destroy this object after
//   it (observer() must outlive every experiment).
class CoordinatorMetrics {
 public:
  // Serves /metrics on `listen` ("HOST:PORT"; port 0 picks a free one) with the scheduler's
  // metrics at once and the experiments' once SetManager() is called. `scheduler` must outlive
  // this object. InvalidArgument for a malformed address, Unavailable if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> Start(const std::string& listen,
                                                                   const Scheduler* scheduler);
  ~CoordinatorMetrics();  // StopServing()

  // The observer to put into ExperimentManagerOptions.
  ExperimentObserver* observer() { return recorder_.get(); }
  // See CoordinatorCollector::SetManager.
  void SetManager(const ExperimentManager* manager) { collector_->SetManager(manager); }
  // Stops the HTTP server; once it returns nothing reads the scheduler or the manager any more.
  // Idempotent.
  void StopServing() { endpoint_.reset(); }
  // The bound port of the /metrics endpoint; 0 after StopServing().
  int port() const { return endpoint_ != nullptr ? endpoint_->port() : 0; }

  const MetricsRecorder& recorder() const { return *recorder_; }

 private:
  CoordinatorMetrics() = default;

  std::unique_ptr<MetricsRecorder> recorder_;
  std::shared_ptr<CoordinatorCollector> collector_;
  std::unique_ptr<common::MetricsEndpoint> endpoint_;  // last: stopped first
};

}  // namespace gdaqd::server::metrics

#endif  // GDAQD_SERVER_METRICS_COORDINATOR_METRICS_H_
