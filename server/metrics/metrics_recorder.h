// The coordinator's event-driven metrics: per-iteration phase durations of each unfinished
// experiment and checkpoint writes, observed where they happen (ExperimentObserver) and read by
// CoordinatorCollector at scrape time (docs/cluster.md §2).
#ifndef GDAQD_SERVER_METRICS_METRICS_RECORDER_H_
#define GDAQD_SERVER_METRICS_METRICS_RECORDER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/client_metric.h"
#include "prometheus/histogram.h"
#include "server/algorithms/experiment_observer.h"

namespace gdaqd::server::metrics {

// The `phase` label values of gdaqd_experiment_phase_duration_seconds, in IterationPhases order.
inline constexpr std::array<const char*, 4> kPhaseNames = {"evaluation", "imagination", "training",
                                                           "gradient"};

// Thread-safe. Memory is bounded by the unfinished experiments: an experiment's histograms are
// created at its first iteration and dropped at OnFinished().
class MetricsRecorder final : public ExperimentObserver {
 public:
  // Bucket upper bounds, seconds: iterations last from milliseconds (MAP-Elites on PointMaze) to
  // minutes (training on the ant tasks); checkpoints from milliseconds to a minute.
  static const std::vector<double>& PhaseBuckets();
  static const std::vector<double>& CheckpointBuckets();

  MetricsRecorder();

  void OnIteration(const std::string& experiment_id, int64_t iteration,
                   const IterationPhases& phases) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCheckpoint(absl::Duration duration, bool ok) override;
  void OnFinished(const std::string& experiment_id) override ABSL_LOCKS_EXCLUDED(mu_);

  // One histogram sample per (experiment, phase) for the experiments in `live` (the unfinished
  // ones: an experiment that finished but whose OnFinished() has not run yet is left out),
  // labelled `experiment` and `phase`.
  std::vector<prometheus::ClientMetric> CollectPhases(
      const absl::flat_hash_set<std::string>& live) const ABSL_LOCKS_EXCLUDED(mu_);
  prometheus::ClientMetric CollectCheckpointDuration() const;
  int64_t checkpoint_failures() const { return checkpoint_failures_.load(); }
  // Experiments whose histograms are held (for tests of the memory bound).
  int64_t tracked_experiments() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One experiment's histograms, indexed like kPhaseNames.
  struct Phases {
    std::array<std::unique_ptr<prometheus::Histogram>, kPhaseNames.size()> histograms;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Phases> phases_ ABSL_GUARDED_BY(mu_);
  prometheus::Histogram checkpoint_duration_;  // internally synchronised
  std::atomic<int64_t> checkpoint_failures_{0};
};

}  // namespace gdaqd::server::metrics

#endif  // GDAQD_SERVER_METRICS_METRICS_RECORDER_H_
