// Command-line flags of gdaqd-worker (process wiring only, STYLE.md §12).
#ifndef GDAQD_WORKER_WORKER_FLAGS_H_
#define GDAQD_WORKER_WORKER_FLAGS_H_

#include <string>

#include "common/tls.h"

namespace gdaqd::worker {

// The parsed flags.
struct WorkerFlags {
  std::string coordinator;          // --coordinator, "host:port"
  int threads = 1;                  // --threads, rollout threads
  std::string worker_id;            // --worker_id, "hostname:pid" unless given
  int verbosity = 0;                // --verbosity (or the deprecated --v), VLOG level
  int max_reconnect_attempts = -1;  // --max_reconnect_attempts, -1 = forever
  // --tls_ca, --tls_cert, --tls_key, --tls_server_name, --token_file (paths, not yet read).
  common::ClientSecurityOptions security;
  std::string metrics_listen;  // --metrics_listen, "host:port" of /metrics; empty = off
  std::string port_file;       // --port_file, where the metrics port goes ("-": stdout)
};

// Parses argv with absl::ParseCommandLine (which exits on --help, --version or an unknown flag;
// main() sets what --version prints) and fills
// in the defaults that depend on the machine.
//
// The flags live in their own file because glog's header declares a global FLAGS_v (through
// gflags) that would clash with absl's FLAGS_v for --v in any file that also includes glog.
WorkerFlags ParseWorkerFlags(int argc, char** argv);

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_WORKER_FLAGS_H_
