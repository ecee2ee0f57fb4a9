// Conversion between absl::Status and grpc::Status at the gRPC boundary (STYLE.md §6).
#ifndef GDAQD_COMMON_GRPC_STATUS_H_
#define GDAQD_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace gdaqd::common {

// Largest gRPC message any gdaqd process sends or accepts, set explicitly on every server and
// channel. Assignments and results stay far below 1 MiB by construction (DESIGN.md §6); this only
// bounds what a broken peer can make us allocate.
inline constexpr int kMaxGrpcMessageBytes = 16 * 1024 * 1024;

// Longest message carried across the wire; longer ones are truncated with "...".
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// Casts the code (both use the canonical numbering) and truncates the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Casts the code and keeps the message. gRPC reports a dropped connection as UNKNOWN
// "Stream removed"; that becomes UNAVAILABLE so that callers retry it like any transient error.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_GRPC_STATUS_H_
