#include "common/snapshot_metrics.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace gdaqd::common {
namespace {

constexpr absl::string_view kLegacyNames[] = {
    "imagined_evaluations", "model_holdout_loss", "model_holdout_mse", "critic_loss",
    "imagination_seconds",  "training_seconds",   "gradient_seconds",  "model_train_calls"};

}  // namespace

absl::Span<const absl::string_view> LegacyLearningMetricNames() { return kLegacyNames; }

std::optional<double> SnapshotMetric(const gdaqd::v1::ProgressSnapshot& snapshot,
                                     absl::string_view name) {
  for (const gdaqd::v1::Metric& metric : snapshot.metrics()) {
    if (metric.name() == name) return metric.value();
  }
  if (!snapshot.metrics().empty() ||
      std::find(std::begin(kLegacyNames), std::end(kLegacyNames), name) == std::end(kLegacyNames)) {
    return std::nullopt;
  }
  using google::protobuf::FieldDescriptor;
  const FieldDescriptor* field = snapshot.GetDescriptor()->FindFieldByName(std::string(name));
  if (field == nullptr) return std::nullopt;
  const google::protobuf::Reflection* reflection = snapshot.GetReflection();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
    return static_cast<double>(reflection->GetInt64(snapshot, field));
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
    return reflection->GetDouble(snapshot, field);
  }
  return std::nullopt;
}

}  // namespace gdaqd::common
