// The ExportArchive stream as bytes: one ArchiveHeader, the history in HistoryChunks of 1,000
// rows, then every elite in ascending cell order,
// each message prefixed by its length (u32, little-endian). The same bytes are what a running
// experiment's export streams from memory and what a checkpoint keeps on disk
// (kArchiveExportSection), so a finished experiment exports without rebuilding its algorithm.
#ifndef GDAQD_SERVER_STORAGE_ARCHIVE_EXPORT_H_
#define GDAQD_SERVER_STORAGE_ARCHIVE_EXPORT_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server::storage {

// Receives bytes in order, a piece at a time; a non-OK status stops the writer that calls it.
using ByteSink = absl::FunctionRef<absl::Status(absl::string_view)>;

// Writes the export of an experiment to `sink` in pieces: `archive` may be null (not started:
// header only); `cells_per_dim` is empty for CVT archives. Each elite's parameters go to the sink
// straight from the archive's memory, and no piece is larger than one message without its
// parameters, so streaming the export costs no copy of it. Returns the sink's first error.
// The archive must not change during the call (the caller holds its lock).
absl::Status WriteArchiveExport(const gdaqd::v1::ExperimentStatus& status,
                                absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                                const ArchiveInterface* archive,
                                absl::Span<const int> cells_per_dim, ByteSink sink);

// The number of bytes WriteArchiveExport() writes for the same arguments (computed without
// touching the parameters).
uint64_t ArchiveExportSize(const gdaqd::v1::ExperimentStatus& status,
                           absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                           const ArchiveInterface* archive, absl::Span<const int> cells_per_dim);

// WriteArchiveExport() into one string. Memory: the filled elites' bytes.
std::string SerializeArchiveExport(const gdaqd::v1::ExperimentStatus& status,
                                   absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                                   const ArchiveInterface* archive,
                                   absl::Span<const int> cells_per_dim);

// Reads the messages back one at a time, from memory or from a section of a checkpoint file
// (then only one message is in memory at once). Single-thread.
class ExportReader {
 public:
  static std::unique_ptr<ExportReader> FromBytes(std::string bytes);
  // NotFound / errno codes if the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<ExportReader>> FromFile(const std::string& path,
                                                                uint64_t offset, uint64_t length);

  // Fills *out with the next message; false at the end. DataLoss if a message is truncated,
  // longer than the gRPC limit, or does not parse.
  absl::StatusOr<bool> Next(gdaqd::v1::ExportArchiveResponse* out);

 private:
  ExportReader() = default;
  absl::Status ReadExactly(char* out, uint64_t n);

  std::string bytes_;   // FromBytes
  std::ifstream file_;  // FromFile
  bool from_file_ = false;
  uint64_t position_ = 0, end_ = 0;  // within bytes_ or the file
  std::string buffer_;
};

}  // namespace gdaqd::server::storage

#endif  // GDAQD_SERVER_STORAGE_ARCHIVE_EXPORT_H_
