// gdaqd-worker: dials a coordinator and runs rollouts for it until SIGINT or SIGTERM.
// Exits 0 after a signal-initiated shutdown, 1 with one ERROR line otherwise.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/metrics/metrics_endpoint.h"
#include "common/thread.h"
#include "common/tls.h"
#include "worker/coordinator_client.h"
#include "worker/metrics.h"
#include "worker/sim/mujoco_tasks.h"
#include "worker/worker_flags.h"

#ifndef GDAQD_GIT_COMMIT
#define GDAQD_GIT_COMMIT "unknown"
#endif

namespace {

// The client's options from the flags; reads the TLS and token files they name (errors name the
// flag and the path).
absl::StatusOr<gdaqd::worker::CoordinatorClientOptions> ClientOptions(
    const gdaqd::worker::WorkerFlags& flags) {
  gdaqd::worker::CoordinatorClientOptions options;
  options.coordinator_address = flags.coordinator;
  options.worker_id = flags.worker_id;
  options.threads = flags.threads;
  options.max_reconnect_attempts = flags.max_reconnect_attempts;
  absl::StatusOr<gdaqd::common::ClientSecurity> security =
      gdaqd::common::LoadClientSecurity(flags.security);
  if (!security.ok()) return security.status();
  options.security = *std::move(security);
  return options;
}

// --port_file: "-" prints GDAQD_METRICS_PORT=N on stdout, a path gets N (written atomically).
bool PublishMetricsPort(const std::string& port_file, int port) {
  if (port_file == "-") {
    std::printf("GDAQD_METRICS_PORT=%d\n", port);
    std::fflush(stdout);
  } else if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      LOG(ERROR) << "gdaqd-worker: cannot write " << port_file;
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return absl::StrCat("gdaqd-worker ", GDAQD_VERSION, " (commit ", GDAQD_GIT_COMMIT, ")\n");
  };
  // --help lists this binary's own flags instead of "No flags matched".
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "worker/worker_flags.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  const gdaqd::worker::WorkerFlags flags = gdaqd::worker::ParseWorkerFlags(argc, argv);
  gdaqd::common::InitLogging(argv[0], flags.verbosity);
  // Debian's abseil is built without NDEBUG, so every Mutex lock pays for deadlock-cycle
  // bookkeeping (5x the cost of a lock); our lock order is checked by -Wthread-safety instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  gdaqd::worker::RegisterMujocoTasks();  // MuJoCo handlers + the ant tasks' environments

  // SIGINT and SIGTERM are blocked in every thread (threads inherit this mask) and taken by one
  // thread with sigwait(), so no code runs in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Metrics before the client (its observer must outlive it); the endpoint is destroyed first.
  std::unique_ptr<gdaqd::worker::WorkerMetrics> metrics;
  std::unique_ptr<gdaqd::common::MetricsEndpoint> metrics_endpoint;
  if (!flags.metrics_listen.empty()) {
    metrics = std::make_unique<gdaqd::worker::WorkerMetrics>(flags.threads);
    absl::StatusOr<std::unique_ptr<gdaqd::common::MetricsEndpoint>> endpoint =
        gdaqd::common::MetricsEndpoint::Start(flags.metrics_listen, {metrics->collectable()});
    if (!endpoint.ok()) {
      LOG(ERROR) << "gdaqd-worker: " << endpoint.status();
      return 1;
    }
    metrics_endpoint = std::move(endpoint).value();
    if (!PublishMetricsPort(flags.port_file, metrics_endpoint->port())) return 1;
  }

  absl::StatusOr<gdaqd::worker::CoordinatorClientOptions> options = ClientOptions(flags);
  if (!options.ok()) {
    LOG(ERROR) << "gdaqd-worker: " << options.status();
    return 1;
  }
  options->observer = metrics.get();
  absl::StatusOr<std::unique_ptr<gdaqd::worker::CoordinatorClient>> client =
      gdaqd::worker::CoordinatorClient::Create(*std::move(options));
  if (!client.ok()) {
    LOG(ERROR) << "gdaqd-worker: invalid flags: " << client.status();
    return 1;
  }
  LOG(INFO) << "gdaqd-worker version=" << GDAQD_VERSION << " worker_id=" << flags.worker_id
            << " coordinator=" << flags.coordinator << " threads=" << flags.threads
            << " tls=" << !flags.security.ca_file.empty()
            << " token=" << !flags.security.token_file.empty()
            << " metrics_port=" << (metrics_endpoint != nullptr ? metrics_endpoint->port() : 0);

  std::atomic<bool> run_returned{false};
  gdaqd::common::Thread signal_thread("signals", [&] {
    int signal_number = 0;
    while (sigwait(&signals, &signal_number) == 0) {
      if (run_returned.load()) return;  // main's wake-up call below
      LOG(INFO) << "received " << strsignal(signal_number) << ", shutting down";
      (*client)->Shutdown();
    }
  });
  const absl::Status status = (*client)->Run();
  run_returned.store(true);
  kill(getpid(), SIGTERM);  // process-directed, so only the sigwait() above can take it
  signal_thread.Join();
  client->reset();

  if (!status.ok()) {
    LOG(ERROR) << "gdaqd-worker: " << status;
    return 1;
  }
  LOG(INFO) << "gdaqd-worker stopped";
  return 0;
}
