// Reading a named progress metric out of a ProgressSnapshot, for every reader of snapshots (the
// client's progress line and results folder, the coordinator's tests and exports): the named
// `metrics` first, and for a snapshot from a server older than named metrics the deprecated fixed
// field of a legacy learned-model metric. Writing snapshots is the coordinator's
// (server/algorithms/progress_metrics.h). Thread-safety: pure functions.
#ifndef GDAQD_COMMON_SNAPSHOT_METRICS_H_
#define GDAQD_COMMON_SNAPSHOT_METRICS_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gdaqd/v1/coordinator.pb.h"

namespace gdaqd::common {

// The learned-model metrics that ProgressSnapshot also carries in its deprecated fixed fields
// (12-15, 17-20), in metrics.csv's fixed-column order. Each is the name of such a field.
absl::Span<const absl::string_view> LegacyLearningMetricNames();

// The value of metric `name` in `snapshot.metrics()`; for a snapshot without named metrics, the
// fixed field of a legacy name (LegacyLearningMetricNames()); else nullopt.
std::optional<double> SnapshotMetric(const gdaqd::v1::ProgressSnapshot& snapshot,
                                     absl::string_view name);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_SNAPSHOT_METRICS_H_
