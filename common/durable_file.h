// Crash-safe file writing: a file is built under `path + ".tmp"`, fsynced, renamed over `path`,
// and the directory is fsynced, so after a crash at any instant `path` holds either its old
// contents or the new ones, never a mix (the coordinator's checkpoints, the results folder).
#ifndef GDAQD_COMMON_DURABLE_FILE_H_
#define GDAQD_COMMON_DURABLE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdaqd::common {

// Writes one file durably. Single-thread. Destroying an uncommitted writer removes the
// temporary file and leaves `path` untouched. Two writers of the same path race on the shared
// temporary name; callers own distinct paths.
class DurableFileWriter {
 public:
  // Creates `path + ".tmp"` (truncating a leftover). Errno-derived codes (NotFound for a missing
  // directory, PermissionDenied, ...) naming the path.
  static absl::StatusOr<DurableFileWriter> Open(std::string path);
  DurableFileWriter(DurableFileWriter&& other) noexcept;
  DurableFileWriter& operator=(DurableFileWriter&&) = delete;
  DurableFileWriter(const DurableFileWriter&) = delete;
  ~DurableFileWriter();

  // Appends `data`, retrying short writes. DataLoss-free: errno-derived code naming the file.
  absl::Status Append(absl::string_view data);
  // fsync, close, rename over the final path, fsync the directory. After an error the temporary
  // file is gone and the final path unchanged. Call at most once.
  absl::Status Commit();

  const std::string& path() const { return path_; }
  const std::string& tmp_path() const { return tmp_path_; }
  int64_t bytes_written() const { return bytes_written_; }

 private:
  DurableFileWriter(std::string path, int fd);
  void Abandon();

  std::string path_, tmp_path_;
  int fd_ = -1;
  int64_t bytes_written_ = 0;
};

// Writes `contents` to `path` durably (DurableFileWriter in one call).
absl::Status WriteFileDurably(const std::string& path, absl::string_view contents);

// fsyncs the directory `dir`, so that renames and unlinks in it survive a crash.
absl::Status SyncDirectory(const std::string& dir);

// Returns the whole contents of `path`. NotFound if it does not exist; other errno-derived codes
// (PermissionDenied, FailedPrecondition for a directory) otherwise; FailedPrecondition if it is
// larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             int64_t max_bytes = int64_t{1} << 40);

// absl::ErrnoToStatus(error, "<what> <path>").
absl::Status ErrnoError(int error, absl::string_view what, const std::string& path);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_DURABLE_FILE_H_
