// The embedded local mode's process tree: one gdaqd-server and K gdaqd-worker processes on
// loopback, the same binaries a cluster runs. Used by `gdaqd run` and by integration tests.
#ifndef GDAQD_CLIENT_LOCAL_CLUSTER_H_
#define GDAQD_CLIENT_LOCAL_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/subprocess.h"

namespace gdaqd::client {

struct LocalClusterOptions {
  int workers = 2;
  int threads_per_worker = 1;
  std::string log_dir;  // server.log, worker_<i>.log; empty = inherit stderr
  // The coordinator's --state_dir; empty = a fresh temporary directory removed by Stop().
  std::string state_dir;
  std::vector<std::string> server_args;  // extra coordinator flags (tests)
  std::string server_binary;             // empty = found next to this executable (see FindBinary)
  std::string worker_binary;
  absl::Duration start_timeout = absl::Seconds(30);
};

// Single-thread. Destruction stops workers, then the coordinator (SIGTERM, then SIGKILL).
class LocalCluster {
 public:
  // Starts the coordinator on 127.0.0.1 with a free port, then the workers. Unavailable with
  // the log path if the coordinator does not report its port in time.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  ~LocalCluster();

  std::string address() const;  // "127.0.0.1:<port>"
  int port() const { return port_; }
  // The i-th worker process (tests kill one mid-batch).
  common::Subprocess& worker(int i) { return *workers_[i]; }
  int num_workers() const { return static_cast<int>(workers_.size()); }
  // Stops workers then the coordinator; idempotent.
  void Stop();

 private:
  LocalCluster() = default;

  std::string temporary_state_dir_;  // removed by Stop()
  std::unique_ptr<common::Subprocess> server_;
  std::vector<std::unique_ptr<common::Subprocess>> workers_;
  int port_ = 0;
};

// Finds `name` (gdaqd-server, gdaqd-worker) next to this executable, in the build tree's
// server/ or worker/ folder relative to it, or on PATH. NotFound lists the places tried.
absl::StatusOr<std::string> FindBinary(const std::string& name);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_LOCAL_CLUSTER_H_
