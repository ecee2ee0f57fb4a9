#include "worker/worker_flags.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "Coordinator address, host:port.");
ABSL_FLAG(int, threads, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
          "Rollout threads (default: the number of hardware threads).");
ABSL_FLAG(std::string, worker_id, "", "Unique worker id (default: hostname:pid).");
ABSL_FLAG(int, verbosity, 0, "Verbose logging level: 1 per RPC, 2 per episode.");
ABSL_FLAG(int, v, 0, "Deprecated: the old name of --verbosity (the larger of the two is used).");
ABSL_FLAG(int, max_reconnect_attempts, -1,
          "Consecutive failed connection attempts before giving up; -1 = never give up.");

ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the coordinator's certificate; turns TLS on.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (with --tls_key; needs --tls_ca).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to check in the coordinator's certificate instead of the --coordinator host.");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is this worker's bearer token (role worker).");
ABSL_FLAG(std::string, metrics_listen, "",
          "Serve Prometheus /metrics on host:port (port 0 picks a free one); empty: off.");
ABSL_FLAG(std::string, port_file, "",
          "With --metrics_listen: write the bound metrics port to this file; \"-\" prints "
          "GDAQD_METRICS_PORT=N on stdout.");

namespace gdaqd::worker {

WorkerFlags ParseWorkerFlags(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs rollouts for a gdaqd coordinator until SIGINT/SIGTERM.\n"
      "Usage: gdaqd-worker [--coordinator=host:port] [--threads=N]");
  absl::ParseCommandLine(argc, argv);
  WorkerFlags flags;
  flags.coordinator = absl::GetFlag(FLAGS_coordinator);
  flags.threads = absl::GetFlag(FLAGS_threads);
  flags.worker_id = absl::GetFlag(FLAGS_worker_id);
  if (flags.worker_id.empty()) {
    std::array<char, 256> host = {};
    if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    flags.worker_id = absl::StrCat(host[0] != '\0' ? host.data() : "localhost", ":", getpid());
  }
  flags.verbosity = std::max(absl::GetFlag(FLAGS_verbosity), absl::GetFlag(FLAGS_v));
  flags.max_reconnect_attempts = absl::GetFlag(FLAGS_max_reconnect_attempts);
  flags.security.ca_file = absl::GetFlag(FLAGS_tls_ca);
  flags.security.cert_file = absl::GetFlag(FLAGS_tls_cert);
  flags.security.key_file = absl::GetFlag(FLAGS_tls_key);
  flags.security.server_name = absl::GetFlag(FLAGS_tls_server_name);
  flags.security.token_file = absl::GetFlag(FLAGS_token_file);
  flags.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  flags.port_file = absl::GetFlag(FLAGS_port_file);
  return flags;
}

}  // namespace gdaqd::worker
