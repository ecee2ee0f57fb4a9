#include "client/results/atomic_file.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/durable_file.h"

namespace gdaqd::client {

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::Span<const std::string_view> pieces) {
  // rename() within one filesystem is atomic: readers see the old file or the new one.
  absl::StatusOr<common::DurableFileWriter> writer = common::DurableFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  for (std::string_view piece : pieces) {
    if (absl::Status status = writer->Append(absl::string_view(piece.data(), piece.size()));
        !status.ok()) {
      return status;
    }
  }
  return writer->Commit();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  const std::string_view pieces[] = {contents};
  return WriteFileAtomically(path, absl::MakeConstSpan(pieces));
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  return common::ReadFileToString(path);
}

}  // namespace gdaqd::client
