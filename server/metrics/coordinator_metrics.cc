#include "server/metrics/coordinator_metrics.h"

#include <utility>

namespace gdaqd::server::metrics {

absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> CoordinatorMetrics::Start(
    const std::string& listen, const Scheduler* scheduler) {
  std::unique_ptr<CoordinatorMetrics> metrics(new CoordinatorMetrics());
  metrics->recorder_ = std::make_unique<MetricsRecorder>();
  metrics->collector_ = std::make_shared<CoordinatorCollector>(scheduler, metrics->recorder_.get());
  absl::StatusOr<std::unique_ptr<common::MetricsEndpoint>> endpoint =
      common::MetricsEndpoint::Start(listen, {metrics->collector_});
  if (!endpoint.ok()) return endpoint.status();
  metrics->endpoint_ = std::move(endpoint).value();
  return metrics;
}

CoordinatorMetrics::~CoordinatorMetrics() { StopServing(); }

}  // namespace gdaqd::server::metrics
