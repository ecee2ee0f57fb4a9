#include "server/algorithms/progress_metrics.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/snapshot_metrics.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace gdaqd::server {
namespace {

constexpr size_t kMaxNameLength = 64;

using google::protobuf::FieldDescriptor;

// The fixed ProgressSnapshot field called `name`; every legacy name is one (checked by the test).
const FieldDescriptor* FixedField(absl::string_view name) {
  return gdaqd::v1::ProgressSnapshot::descriptor()->FindFieldByName(std::string(name));
}

bool IsLegacy(absl::string_view name) {
  for (const MetricSpec& legacy : LegacyLearningMetrics()) {
    if (legacy.name == name) return true;
  }
  return false;
}

// Names an algorithm may not use: the snapshot's own fields (metrics.csv columns, Python history
// columns) other than the legacy metrics, and the coordinator's other per-experiment families.
bool IsReserved(absl::string_view name) {
  constexpr absl::string_view kFamilies[] = {"iterations", "qd_score_ratio", "coverage_ratio",
                                             "state", "phase_duration_seconds"};
  for (absl::string_view family : kFamilies) {
    if (name == family) return true;
  }
  return FixedField(name) != nullptr && !IsLegacy(name);
}

// Sets the fixed ProgressSnapshot field called `name` (int64 or double) to `value`.
void SetFixedField(absl::string_view name, double value, gdaqd::v1::ProgressSnapshot* snapshot) {
  const FieldDescriptor* field = FixedField(name);
  if (field == nullptr) return;
  const google::protobuf::Reflection* reflection = snapshot->GetReflection();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
    reflection->SetInt64(snapshot, field, std::isfinite(value) ? static_cast<int64_t>(value) : 0);
  } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
    reflection->SetDouble(snapshot, field, value);
  }
}

}  // namespace

double DefaultMetricValue(MetricKind kind) {
  return kind == MetricKind::kCounter ? 0.0 : std::numeric_limits<double>::quiet_NaN();
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name[0] < 'a' || name[0] > 'z') {
    return false;
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

absl::Status CheckMetrics(absl::Span<const MetricSpec> specs, const std::vector<Metric>* values) {
  absl::flat_hash_set<std::string> seen;
  for (const MetricSpec& spec : specs) {
    if (!IsValidMetricName(spec.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric name '", spec.name, "' is not snake_case [a-z][a-z0-9_]*"));
    }
    if (IsReserved(spec.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric name '", spec.name, "' is reserved (a progress field or coordinator series)"));
    }
    if (!seen.insert(spec.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("metric '", spec.name, "' declared twice"));
    }
    if (spec.help.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("metric '", spec.name, "' has no help"));
    }
  }
  if (values == nullptr) return absl::OkStatus();
  if (values->size() != specs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("reported ", values->size(), " metrics, declared ", specs.size()));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if ((*values)[i].name != specs[i].name) {
      return absl::InvalidArgumentError(absl::StrCat("metric ", i, " is '", (*values)[i].name,
                                                     "', declared '", specs[i].name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Span<const MetricSpec> LegacyLearningMetrics() {
  static const auto* const kSpecs = new std::vector<MetricSpec>{
      {"imagined_evaluations", "Episodes rolled out in the dynamics model.", MetricKind::kCounter},
      {"model_holdout_loss",
       "Last dynamics-model training's holdout Gaussian NLL (normalised units); NaN without a "
       "model.",
       MetricKind::kGauge},
      {"model_holdout_mse",
       "Last dynamics-model training's next-observation MSE (real units); NaN without a model.",
       MetricKind::kGauge},
      {"critic_loss", "Last generation's mean TD3 critic loss; NaN without one.",
       MetricKind::kGauge},
      {"imagination_seconds", "Seconds spent in imagined rollouts and imagined insertions.",
       MetricKind::kCounter},
      {"training_seconds", "Seconds spent training the dynamics model and the critic.",
       MetricKind::kCounter},
      {"gradient_seconds", "Seconds spent making policy-gradient children.", MetricKind::kCounter},
      {"model_train_calls", "Dynamics-model trainings.", MetricKind::kCounter},
  };
  return *kSpecs;
}

std::string PrometheusFamilyName(const MetricSpec& spec) {
  std::string name = absl::StrCat("gdaqd_experiment_", spec.name);
  if (spec.kind == MetricKind::kCounter && !absl::EndsWith(name, "_total")) {
    absl::StrAppend(&name, "_total");
  }
  return name;
}

std::optional<double> FindMetric(const gdaqd::v1::ProgressSnapshot& snapshot,
                                 absl::string_view name) {
  return common::SnapshotMetric(snapshot, name);
}

std::optional<double> FindMetric(absl::Span<const Metric> metrics, absl::string_view name) {
  for (const Metric& metric : metrics) {
    if (metric.name == name) return metric.value;
  }
  return std::nullopt;
}

void SetSnapshotMetrics(absl::Span<const Metric> values, gdaqd::v1::ProgressSnapshot* snapshot) {
  snapshot->clear_metrics();
  for (const Metric& value : values) {
    gdaqd::v1::Metric* metric = snapshot->add_metrics();
    metric->set_name(value.name);
    metric->set_value(value.value);
  }
  for (const MetricSpec& legacy : LegacyLearningMetrics()) {
    SetFixedField(legacy.name,
                  FindMetric(values, legacy.name).value_or(DefaultMetricValue(legacy.kind)),
                  snapshot);
  }
}

}  // namespace gdaqd::server
