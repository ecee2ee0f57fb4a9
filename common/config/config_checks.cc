#include "common/config/config_checks.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/status_macros.h"

namespace gdaqd::common::checks {

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status CheckRange(absl::string_view field, double value, double low, double high,
                        bool low_open, bool high_open) {
  const bool above_low = low_open ? value > low : value >= low;
  const bool below_high = high_open ? value < high : value <= high;
  if (!std::isfinite(value) || !above_low || !below_high) {
    return FieldError(field, absl::StrCat("must be in ", low_open ? "(" : "[", low, ", ", high,
                                          high_open ? ")" : "]", ", got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckIntRange(absl::string_view field, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    return FieldError(field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckLength(absl::string_view field, absl::string_view value, int64_t max_bytes) {
  if (static_cast<int64_t>(value.size()) > max_bytes) {
    return FieldError(field,
                      absl::StrCat("must be at most ", max_bytes, " bytes, got ", value.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckHiddenSizes(absl::string_view field,
                              const google::protobuf::RepeatedField<int32_t>& sizes,
                              bool may_be_empty) {
  if (sizes.empty() && !may_be_empty) return FieldError(field, "must have at least one entry");
  if (sizes.size() > kMaxHiddenLayers) {
    return FieldError(field, absl::StrCat("must have at most ", kMaxHiddenLayers, " entries, got ",
                                          sizes.size()));
  }
  for (int i = 0; i < sizes.size(); ++i) {
    GDAQD_RETURN_IF_ERROR(
        CheckIntRange(absl::StrCat(field, "[", i, "]"), sizes.Get(i), 1, kMaxHiddenSize));
  }
  return absl::OkStatus();
}

}  // namespace gdaqd::common::checks
