#include "common/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gdaqd::common {

absl::Status ErrnoError(int error, absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

absl::StatusOr<DurableFileWriter> DurableFileWriter::Open(std::string path) {
  const std::string tmp_path = path + ".tmp";
  const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "cannot create", tmp_path);
  return DurableFileWriter(std::move(path), fd);
}

DurableFileWriter::DurableFileWriter(std::string path, int fd)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp"), fd_(fd) {}

DurableFileWriter::DurableFileWriter(DurableFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_path_(std::move(other.tmp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      bytes_written_(other.bytes_written_) {}

DurableFileWriter::~DurableFileWriter() { Abandon(); }

void DurableFileWriter::Abandon() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_path_.c_str());
}

absl::Status DurableFileWriter::Append(absl::string_view data) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(tmp_path_, " is closed"));
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      Abandon();
      return ErrnoError(error, "cannot write", tmp_path_);
    }
    data.remove_prefix(static_cast<size_t>(n));
    bytes_written_ += n;
  }
  return absl::OkStatus();
}

absl::Status DurableFileWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(tmp_path_, " is closed"));
  // Without the fsync a crash right after rename() can leave an empty file on some filesystems:
  // the rename reaches the journal before the data does.
  if (::fsync(fd_) != 0) {
    const int error = errno;
    Abandon();
    return ErrnoError(error, "cannot fsync", tmp_path_);
  }
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    ::unlink(tmp_path_.c_str());
    return ErrnoError(errno, "cannot close", tmp_path_);
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp_path_.c_str());
    return ErrnoError(error, absl::StrCat("cannot rename ", tmp_path_, " to"), path_);
  }
  std::string dir = std::filesystem::path(path_).parent_path().string();
  return SyncDirectory(dir.empty() ? "." : dir);
}

absl::Status WriteFileDurably(const std::string& path, absl::string_view contents) {
  absl::StatusOr<DurableFileWriter> writer = DurableFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  if (absl::Status status = writer->Append(contents); !status.ok()) return status;
  return writer->Commit();
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open directory", dir);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  return result == 0 ? absl::OkStatus() : ErrnoError(error, "cannot fsync directory", dir);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path, int64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open", path);
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError(error, "cannot stat", path);
  }
  if (S_ISDIR(info.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is a directory"));
  }
  std::string contents;
  if (info.st_size > 0)
    contents.reserve(static_cast<size_t>(std::min<int64_t>(info.st_size, max_bytes)));
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return ErrnoError(error, "cannot read", path);
    }
    if (n == 0) break;
    if (static_cast<int64_t>(contents.size()) + n > max_bytes) {
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return contents;
}

}  // namespace gdaqd::common
