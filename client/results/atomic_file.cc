#include "client/results/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace gdaqd::client {
namespace {

// Closes a POSIX file descriptor on scope exit unless Release()d.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

absl::Status ErrnoError(int error, std::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(error,
                             absl::StrCat(absl::string_view(what.data(), what.size()), " ", path));
}

// Writes all of `data`, retrying short writes and EINTR.
absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status WriteAndSync(const std::string& tmp_path, absl::Span<const std::string_view> pieces) {
  const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "cannot create", tmp_path);
  FdCloser closer(fd);
  for (std::string_view piece : pieces) {
    absl::Status status = WriteAll(fd, piece, tmp_path);
    if (!status.ok()) return status;
  }
  // Without the fsync a crash right after rename() can leave an empty file on some
  // filesystems: the rename reaches the journal before the data does.
  if (::fsync(fd) != 0) return ErrnoError(errno, "cannot fsync", tmp_path);
  if (::close(closer.Release()) != 0) return ErrnoError(errno, "cannot close", tmp_path);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::Span<const std::string_view> pieces) {
  const std::string tmp_path = path + ".tmp";
  // rename() within one filesystem is atomic: readers see the old file or the new one.
  absl::Status status = WriteAndSync(tmp_path, pieces);
  if (status.ok() && std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, absl::StrCat("cannot rename ", tmp_path, " to"), path);
  }
  if (!status.ok()) ::unlink(tmp_path.c_str());
  return status;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  const std::string_view pieces[] = {contents};
  return WriteFileAtomically(path, absl::MakeConstSpan(pieces));
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open", path);
  FdCloser closer(fd);
  struct stat info;
  if (::fstat(fd, &info) != 0) return ErrnoError(errno, "cannot stat", path);
  if (S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is a directory"));
  }
  std::string contents;
  // st_size is only a hint (the file may change while we read); read until EOF.
  if (info.st_size > 0) contents.reserve(static_cast<size_t>(info.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot read", path);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

}  // namespace gdaqd::client
