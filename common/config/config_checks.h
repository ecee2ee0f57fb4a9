// Field checks shared by the config layer and the algorithms' rules (common/config/algorithms/):
// each returns InvalidArgument whose message starts with the field's path, in the form
// ValidateExperimentConfig documents ("emitter.batch_size: must be in [1, 100000], got 0").
// Stateless and thread-safe.
#ifndef GDAQD_COMMON_CONFIG_CONFIG_CHECKS_H_
#define GDAQD_COMMON_CONFIG_CONFIG_CHECKS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_field.h"

namespace gdaqd::common::checks {

// InvalidArgument("<field>: <problem>").
absl::Status FieldError(absl::string_view field, absl::string_view problem);

// Finite and in [low, high] (the low bound open when `low_open`, the high one when `high_open`).
absl::Status CheckRange(absl::string_view field, double value, double low, double high,
                        bool low_open = false, bool high_open = false);

// In [low, high].
absl::Status CheckIntRange(absl::string_view field, int64_t value, int64_t low, int64_t high);

// At most max_bytes long; the message gives the length, never the (possibly huge) value.
absl::Status CheckLength(absl::string_view field, absl::string_view value, int64_t max_bytes);

// A hidden-layer list: 1..kMaxHiddenLayers entries (0 too when `may_be_empty`), each in
// [1, kMaxHiddenSize].
absl::Status CheckHiddenSizes(absl::string_view field,
                              const google::protobuf::RepeatedField<int32_t>& sizes,
                              bool may_be_empty);

}  // namespace gdaqd::common::checks

#endif  // GDAQD_COMMON_CONFIG_CONFIG_CHECKS_H_
