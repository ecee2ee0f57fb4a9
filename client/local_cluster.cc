#include "client/local_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gdaqd::client {
namespace {

constexpr absl::Duration kStopGrace = absl::Seconds(5);
constexpr char kPortPrefix[] = "GDAQD_PORT=";

std::string LogPath(const std::string& dir, const std::string& name) {
  return dir.empty() ? std::string() : (std::filesystem::path(dir) / name).string();
}

}  // namespace

absl::StatusOr<std::string> FindBinary(const std::string& name) {
  std::vector<std::string> tried;
  const std::filesystem::path here = common::ExecutableDir();
  const std::string folder = absl::StrContains(name, "server") ? "server" : "worker";
  for (const std::filesystem::path& candidate :
       {here / name, here.parent_path() / folder / name, here / folder / name}) {
    tried.push_back(candidate.string());
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      const std::filesystem::path candidate = std::filesystem::path(std::string(dir)) / name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    tried.push_back("$PATH");
  }
  return absl::NotFoundError(
      absl::StrCat("cannot find ", name, " (tried ", absl::StrJoin(tried, ", "), ")"));
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const LocalClusterOptions& options) {
  std::string server_binary = options.server_binary, worker_binary = options.worker_binary;
  if (server_binary.empty()) {
    absl::StatusOr<std::string> found = FindBinary("gdaqd-server");
    if (!found.ok()) return found.status();
    server_binary = *found;
  }
  if (worker_binary.empty()) {
    absl::StatusOr<std::string> found = FindBinary("gdaqd-worker");
    if (!found.ok()) return found.status();
    worker_binary = *found;
  }
  if (!options.log_dir.empty()) std::filesystem::create_directories(options.log_dir);

  std::unique_ptr<LocalCluster> cluster(new LocalCluster());
  std::string state_dir = options.state_dir;
  if (state_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "gdaqd-state-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot create a temporary state directory ", pattern));
    }
    state_dir = cluster->temporary_state_dir_ = pattern;
  }
  common::Subprocess::Options server_options;
  server_options.log_path = LogPath(options.log_dir, "server.log");
  server_options.capture_stdout = true;
  // The workers share this machine's cores, so the coordinator's BLAS runs one thread: OpenBLAS's
  // default (a thread per core) spins between matmuls and, beside busy workers or other work,
  // slows model training by an order of magnitude (docs/benchmarks.md). server_args may override.
  std::vector<std::string> server_argv = {server_binary, "--listen=127.0.0.1:0", "--port_file=-",
                                          absl::StrCat("--state_dir=", state_dir),
                                          "--blas_threads=1"};
  server_argv.insert(server_argv.end(), options.server_args.begin(), options.server_args.end());
  absl::StatusOr<std::unique_ptr<common::Subprocess>> server =
      common::Subprocess::Spawn(server_argv, server_options);
  if (!server.ok()) return server.status();
  cluster->server_ = std::move(server).value();

  const absl::Time deadline = absl::Now() + options.start_timeout;
  while (cluster->port_ == 0) {
    absl::StatusOr<std::string> line = cluster->server_->ReadLine(deadline - absl::Now());
    if (!line.ok()) {
      return absl::UnavailableError(
          absl::StrCat("the coordinator did not start (", line.status().message(), ")",
                       server_options.log_path.empty() ? "" : "; see " + server_options.log_path));
    }
    if (absl::StartsWith(*line, kPortPrefix)) {
      if (!absl::SimpleAtoi(line->substr(sizeof(kPortPrefix) - 1), &cluster->port_)) {
        return absl::InternalError(absl::StrCat("bad port line from coordinator: ", *line));
      }
    }
  }
  for (int i = 0; i < options.workers; ++i) {
    common::Subprocess::Options worker_options;
    worker_options.log_path = LogPath(options.log_dir, absl::StrCat("worker_", i, ".log"));
    absl::StatusOr<std::unique_ptr<common::Subprocess>> worker = common::Subprocess::Spawn(
        {worker_binary, absl::StrCat("--coordinator=", cluster->address()),
         absl::StrCat("--threads=", options.threads_per_worker),
         absl::StrCat("--worker_id=local-", i, "-", getpid())},
        worker_options);
    if (!worker.ok()) return worker.status();
    cluster->workers_.push_back(std::move(worker).value());
  }
  return cluster;
}

LocalCluster::~LocalCluster() { Stop(); }

std::string LocalCluster::address() const { return absl::StrCat("127.0.0.1:", port_); }

void LocalCluster::Stop() {
  for (auto& worker : workers_) {
    if (worker->running()) worker->Signal(SIGTERM);
  }
  for (auto& worker : workers_) {
    if (worker->running()) worker->Stop(kStopGrace);
  }
  if (server_ != nullptr && server_->running()) server_->Stop(kStopGrace);
  if (!temporary_state_dir_.empty()) {
    std::error_code error;
    std::filesystem::remove_all(temporary_state_dir_, error);
    temporary_state_dir_.clear();
  }
}

}  // namespace gdaqd::client
