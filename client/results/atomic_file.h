// Whole-file reads and crash-safe whole-file writes for the results folder.
//
// Every writer in client/results goes through WriteFileAtomically(), so a researcher who
// opens the results folder while a run is writing it (or after the process died) sees
// either the previous version of a file or the new one, never half of one.
#ifndef GDAQD_CLIENT_RESULTS_ATOMIC_FILE_H_
#define GDAQD_CLIENT_RESULTS_ATOMIC_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::client {

// Writes the concatenation of `pieces` to `path + ".tmp"`, fsyncs it, then renames it over
// `path`. On failure the temporary file is removed and `path` is left untouched. Two
// processes writing the same `path` at once race on the shared temporary name; callers own
// distinct paths. Returns the errno-derived code (NotFound for a missing directory,
// PermissionDenied, ...) with the path in the message.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::Span<const std::string_view> pieces);

// Convenience overload for a single buffer.
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents);

// Returns the whole contents of `path`. NotFound if it does not exist; other errno-derived
// codes (PermissionDenied, FailedPrecondition for a directory, ...) otherwise.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_RESULTS_ATOMIC_FILE_H_
