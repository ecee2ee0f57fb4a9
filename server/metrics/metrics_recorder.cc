#include "server/metrics/metrics_recorder.h"

#include <utility>

namespace gdaqd::server::metrics {

const std::vector<double>& MetricsRecorder::PhaseBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return *kBuckets;
}

const std::vector<double>& MetricsRecorder::CheckpointBuckets() {
  static const auto* const kBuckets =
      new std::vector<double>{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *kBuckets;
}

MetricsRecorder::MetricsRecorder() : checkpoint_duration_(CheckpointBuckets()) {}

void MetricsRecorder::OnIteration(const std::string& experiment_id, int64_t /*iteration*/,
                                  const IterationPhases& phases) {
  const std::array<double, kPhaseNames.size()> seconds = {phases.evaluation, phases.imagination,
                                                          phases.training, phases.gradient};
  absl::MutexLock lock(&mu_);
  Phases& held = phases_[experiment_id];
  for (size_t i = 0; i < seconds.size(); ++i) {
    if (held.histograms[i] == nullptr) {
      held.histograms[i] = std::make_unique<prometheus::Histogram>(PhaseBuckets());
    }
    held.histograms[i]->Observe(seconds[i]);
  }
}

void MetricsRecorder::OnCheckpoint(absl::Duration duration, bool ok) {
  checkpoint_duration_.Observe(absl::ToDoubleSeconds(duration));
  if (!ok) ++checkpoint_failures_;
}

void MetricsRecorder::OnFinished(const std::string& experiment_id) {
  absl::MutexLock lock(&mu_);
  phases_.erase(experiment_id);
}

std::vector<prometheus::ClientMetric> MetricsRecorder::CollectPhases(
    const absl::flat_hash_set<std::string>& live) const {
  std::vector<prometheus::ClientMetric> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, held] : phases_) {
    if (!live.contains(id)) continue;
    for (size_t i = 0; i < kPhaseNames.size(); ++i) {
      prometheus::ClientMetric metric = held.histograms[i]->Collect();
      metric.label = {{"experiment", id}, {"phase", kPhaseNames[i]}};
      out.push_back(std::move(metric));
    }
  }
  return out;
}

prometheus::ClientMetric MetricsRecorder::CollectCheckpointDuration() const {
  return checkpoint_duration_.Collect();
}

int64_t MetricsRecorder::tracked_experiments() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(phases_.size());
}

}  // namespace gdaqd::server::metrics
