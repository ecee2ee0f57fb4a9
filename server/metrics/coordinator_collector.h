// The coordinator's Prometheus collector: at each scrape it reads the experiments' statuses and
// the scheduler's counters and emits the families of docs/cluster.md §2 (pull-style, so a
// finished experiment's series are gone from the next scrape on, by construction).
#ifndef GDAQD_SERVER_METRICS_COORDINATOR_COLLECTOR_H_
#define GDAQD_SERVER_METRICS_COORDINATOR_COLLECTOR_H_

#include <atomic>
#include <vector>

#include "absl/types/span.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/algorithms/experiment_manager.h"
#include "server/algorithms/progress_metrics.h"
#include "server/metrics/metrics_recorder.h"
#include "server/scheduler/scheduler.h"

namespace gdaqd::server::metrics {

// The families, from `statuses` (every experiment), `specs` (specs[i]: the metrics experiment
// i's algorithm declares, Experiment::metric_specs(); missing or empty: none), `stats` and
// `recorder`:
//   gdaqd_build_info{version}, gdaqd_experiments{state} (all experiments, the five states always
//   present); per unfinished experiment, labelled `experiment`: evaluations_total,
//   iterations_total, qd_score, qd_score_ratio, coverage_ratio, max_fitness (-Inf while the
//   archive is empty), phase_duration_seconds{phase}, state{state} (1 for the current state, 0
//   for the other four), and one family per algorithm metric, gdaqd_experiment_<name> (plus
//   "_total" for a counter; PrometheusFamilyName()) with the value of the latest snapshot, or 0
//   (counter) / NaN (gauge) before there is one; imagined_evaluations_total, model_holdout_loss
//   and critic_loss are declared for every unfinished experiment, whatever its algorithm; the
//   scheduler's gauges and counters, rejected_results_total{reason} with every ResultCheck name
//   but "accepted"; and the checkpoint histogram and failure counter. A pure function of its
//   arguments.
std::vector<prometheus::MetricFamily> CoordinatorFamilies(
    const std::vector<gdaqd::v1::ExperimentStatus>& statuses, const SchedulerStats& stats,
    const MetricsRecorder& recorder, absl::Span<const std::vector<MetricSpec>> specs = {});

// Thread-safe: Collect() runs on the HTTP server's threads.
class CoordinatorCollector final : public prometheus::Collectable {
 public:
  // `scheduler` and `recorder` must outlive the collector.
  CoordinatorCollector(const Scheduler* scheduler, const MetricsRecorder* recorder)
      : scheduler_(scheduler), recorder_(recorder) {}

  // Experiments come from `manager` from now on (null: none). The manager must outlive every
  // Collect() that may read it: set null, or stop the endpoint, before destroying it.
  void SetManager(const ExperimentManager* manager) { manager_.store(manager); }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Scheduler* const scheduler_;
  const MetricsRecorder* const recorder_;
  std::atomic<const ExperimentManager*> manager_{nullptr};
};

}  // namespace gdaqd::server::metrics

#endif  // GDAQD_SERVER_METRICS_COORDINATOR_COLLECTOR_H_
