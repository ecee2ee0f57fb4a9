// Progress metrics as named values: what an algorithm reports besides its archive (losses of its
// learned models, counts of imagined episodes, seconds per phase), so that the progress snapshot,
// metrics.csv and the Prometheus scrape carry a new metric without code of their own. An
// algorithm declares its metrics once (QdAlgorithm::metric_specs()) and reports their values
// after every iteration (QdAlgorithm::metrics()); docs/metrics.md lists each algorithm's.
#ifndef GDAQD_SERVER_ALGORITHMS_PROGRESS_METRICS_H_
#define GDAQD_SERVER_ALGORITHMS_PROGRESS_METRICS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gdaqd/v1/coordinator.pb.h"

namespace gdaqd::server {

// How a metric evolves between snapshots.
enum class MetricKind {
  kCounter,  // cumulative since the algorithm was created (restored by a checkpoint); never falls
  kGauge,    // the last value (e.g. the last training's loss); NaN until there is one
};

// A metric an algorithm reports. Plain data; `name` is snake_case ([a-z][a-z0-9_]*), unique
// within an algorithm, and names the same quantity (same unit) in every algorithm that reports
// it. `help` is one sentence with the unit, as in a Prometheus HELP line.
struct MetricSpec {
  std::string name;
  std::string help;
  MetricKind kind = MetricKind::kGauge;
};

// One value of a metric, as the algorithm reports it after an iteration. Plain data.
struct Metric {
  std::string name;
  double value = 0;
};

// The value a metric of `kind` has before the algorithm reported one: 0 for a counter, NaN for a
// gauge.
double DefaultMetricValue(MetricKind kind);

// True if `name` is a valid metric name: snake_case, [a-z][a-z0-9_]*, at most 64 characters.
bool IsValidMetricName(absl::string_view name);

// OK if `specs` have valid, unique, unreserved names (not a ProgressSnapshot field other than the
// legacy metrics below, e.g. "evaluations" or "wall_seconds", nor "iterations", "qd_score_ratio",
// "coverage_ratio", "state" or "phase_duration_seconds", which name other coordinator series)
// and non-empty help, and `values` (when not null) has
// exactly the names of `specs` in the same order; InvalidArgument naming the first offence
// otherwise. For tests of algorithms and a check of the runner.
absl::Status CheckMetrics(absl::Span<const MetricSpec> specs,
                          const std::vector<Metric>* values = nullptr);

// The learned-model metrics that ProgressSnapshot also carries in its deprecated fixed fields
// (12-15, 17-20) and metrics.csv in its fixed columns, in that column order. The coordinator's
// Prometheus families for imagined_evaluations, model_holdout_loss and critic_loss are declared
// for every experiment from these (they predate named metrics).
absl::Span<const MetricSpec> LegacyLearningMetrics();

// The Prometheus family of `spec`: gdaqd_experiment_<name>, with "_total" appended to a counter
// whose name does not already end with it (Prometheus naming guide).
std::string PrometheusFamilyName(const MetricSpec& spec);

// The value of metric `name` in `snapshot.metrics()`; for a snapshot without named metrics (of a
// server older than them, or made by hand), the deprecated fixed field of a legacy name
// (LegacyLearningMetrics()); else nullopt.
std::optional<double> FindMetric(const gdaqd::v1::ProgressSnapshot& snapshot,
                                 absl::string_view name);

// The value of metric `name` among `metrics`, or nullopt if there is none of that name.
std::optional<double> FindMetric(absl::Span<const Metric> metrics, absl::string_view name);

// Sets snapshot->metrics() to `values` (in order) and fills the deprecated fixed fields from the
// values of the same names, with DefaultMetricValue() of the legacy spec for those the algorithm
// does not report, so that an older client reads what it always did.
void SetSnapshotMetrics(absl::Span<const Metric> values, gdaqd::v1::ProgressSnapshot* snapshot);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_PROGRESS_METRICS_H_
