// Conversion between absl::Status and grpc::Status at the gRPC boundary (STYLE.md §6).
#ifndef GDAQD_COMMON_GRPC_STATUS_H_
#define GDAQD_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace gdaqd::common {

// Longest message carried across the wire; longer ones are truncated with "...".
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// Casts the code (both use the canonical numbering) and truncates the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Casts the code and keeps the message. gRPC reports a dropped connection as UNKNOWN
// "Stream removed"; that becomes UNAVAILABLE so that callers retry it like any transient error.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_GRPC_STATUS_H_
