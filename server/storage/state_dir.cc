#include "server/storage/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/durable_file.h"
#include "common/logging.h"

namespace gdaqd::server::storage {
namespace {

// The marker of MarkCancelRequested() in an experiment's directory.
constexpr char kCancelRequested[] = "cancel_requested";

namespace fs = std::filesystem;

constexpr char kCheckpointPrefix[] = "checkpoint-";
constexpr char kCheckpointSuffix[] = ".ckpt";
constexpr int kCheckpointsKept = 2;

absl::Status FsError(const std::error_code& error, absl::string_view what,
                     const std::string& path) {
  return common::ErrnoError(error.value(), what, path);
}

// Removes *.tmp files under `dir` (writes cut short by a crash).
void RemoveTemporaries(const fs::path& dir) {
  std::error_code error;
  for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file() && it->path().extension() == ".tmp") {
      LOG(WARNING) << "removing_partial_write path=" << it->path().string();
      fs::remove(it->path(), error);
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateDir>> StateDir::Open(const std::string& dir, Options options) {
  std::error_code error;
  fs::create_directories(fs::path(dir) / "experiments", error);
  if (error) return FsError(error, "cannot create state directory", dir);
  const std::string lock_path = (fs::path(dir) / "LOCK").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return common::ErrnoError(errno, "cannot open", lock_path);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "state directory ", dir, " is in use by another gdaqd-server (it holds ", lock_path, ")"));
  }
  RemoveTemporaries(dir);
  // The next number: what next_id says, but never below an existing experiment's number.
  int64_t next = 1;
  absl::StatusOr<std::string> text =
      common::ReadFileToString((fs::path(dir) / "next_id").string(), 64);
  if (text.ok()) {
    int64_t stored = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &stored) && stored > 0) next = stored;
  } else if (!absl::IsNotFound(text.status())) {
    ::close(lock_fd);
    return text.status();
  }
  std::unique_ptr<StateDir> state(new StateDir(dir, lock_fd, std::move(options), next));
  absl::StatusOr<std::vector<int64_t>> numbers = state->ListExperiments();
  if (!numbers.ok()) return numbers.status();
  if (!numbers->empty()) state->next_number_ = std::max(next, numbers->back() + 1);
  return state;
}

StateDir::~StateDir() { ::close(lock_fd_); }

absl::StatusOr<int64_t> StateDir::ReserveNumber() {
  absl::MutexLock lock(&mu_);
  const int64_t number = next_number_;
  absl::Status status = common::WriteFileDurably((fs::path(path_) / "next_id").string(),
                                                 absl::StrCat(number + 1, "\n"));
  if (!status.ok()) return status;
  next_number_ = number + 1;
  return number;
}

std::string StateDir::ExperimentDir(int64_t number) const {
  return (fs::path(path_) / "experiments" / absl::StrCat(number)).string();
}

absl::StatusOr<std::vector<int64_t>> StateDir::ListExperiments() const {
  std::vector<int64_t> numbers;
  std::error_code error;
  const fs::path root = fs::path(path_) / "experiments";
  for (fs::directory_iterator it(root, error), end; !error && it != end; it.increment(error)) {
    int64_t number = 0;
    if (it->is_directory() && absl::SimpleAtoi(it->path().filename().string(), &number) &&
        number > 0) {
      numbers.push_back(number);
    }
  }
  if (error) return FsError(error, "cannot list", root.string());
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

std::vector<std::pair<int64_t, std::string>> StateDir::Checkpoints(int64_t number) const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code error;
  for (fs::directory_iterator it(ExperimentDir(number), error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!absl::StartsWith(name, kCheckpointPrefix) || !absl::EndsWith(name, kCheckpointSuffix)) {
      continue;
    }
    int64_t seq = 0;
    const std::string digits =
        name.substr(sizeof(kCheckpointPrefix) - 1, name.size() - (sizeof(kCheckpointPrefix) - 1) -
                                                       (sizeof(kCheckpointSuffix) - 1));
    if (absl::SimpleAtoi(digits, &seq)) out.emplace_back(seq, it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status StateDir::WriteCheckpoint(int64_t number, const std::vector<Section>& sections) {
  const std::string dir = ExperimentDir(number);
  std::error_code error;
  if (!fs::exists(dir, error)) {
    fs::create_directories(dir, error);
    if (error) return FsError(error, "cannot create", dir);
    // The new directory's entry must survive a crash too.
    if (absl::Status status = common::SyncDirectory(fs::path(dir).parent_path().string());
        !status.ok()) {
      return status;
    }
  }
  std::vector<std::pair<int64_t, std::string>> existing = Checkpoints(number);
  const int64_t seq = existing.empty() ? 1 : existing.back().first + 1;
  const std::string path =
      (fs::path(dir) / absl::StrFormat("%s%09d%s", kCheckpointPrefix, seq, kCheckpointSuffix))
          .string();
  if (absl::Status status = WriteCheckpointFile(path, sections, options_.mid_write_hook);
      !status.ok()) {
    return status;
  }
  // Keep the new one and the one before it.
  for (size_t i = 0; i + kCheckpointsKept - 1 < existing.size(); ++i) {
    fs::remove(existing[i].second, error);
  }
  return absl::OkStatus();
}

absl::StatusOr<StateDir::LoadedCheckpoint> StateDir::OpenNewestCheckpoint(int64_t number) const {
  std::vector<std::pair<int64_t, std::string>> files = Checkpoints(number);
  LoadedCheckpoint loaded;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    absl::StatusOr<std::map<uint32_t, SectionLocation>> sections = VerifyCheckpointFile(it->second);
    if (sections.ok()) {
      loaded.path = it->second;
      loaded.sections = std::move(sections).value();
      return loaded;
    }
    LOG(ERROR) << "checkpoint_damaged experiment=" << number << " path=" << it->second
               << " error=\"" << sections.status().message()
               << "\" action=falling_back_to_the_previous_checkpoint";
    std::error_code error;
    fs::rename(it->second, it->second + ".damaged", error);
    ++loaded.damaged_skipped;
  }
  return absl::NotFoundError(
      absl::StrCat("experiment ", number, " has no valid checkpoint in ", ExperimentDir(number)));
}

absl::Status StateDir::MarkCancelRequested(int64_t number) {
  return common::WriteFileDurably((fs::path(ExperimentDir(number)) / kCancelRequested).string(),
                                  "cancel requested\n");
}

bool StateDir::CancelRequested(int64_t number) const {
  std::error_code error;
  return fs::exists(fs::path(ExperimentDir(number)) / kCancelRequested, error);
}

absl::Status StateDir::DeleteExperiment(int64_t number) {
  std::error_code error;
  const std::string dir = ExperimentDir(number);
  fs::remove_all(dir, error);
  if (error) return FsError(error, "cannot remove", dir);
  return common::SyncDirectory(fs::path(dir).parent_path().string());
}

}  // namespace gdaqd::server::storage
