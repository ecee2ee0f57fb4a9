// gdaqd-worker: dials a coordinator and runs rollouts for it until SIGINT or SIGTERM.
// Exits 0 after a signal-initiated shutdown, 1 with one ERROR line otherwise.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/thread.h"
#include "common/tls.h"
#include "worker/coordinator_client.h"
#include "worker/sim/mujoco_tasks.h"
#include "worker/worker_flags.h"

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

}  // namespace

int main(int argc, char** argv) {
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

  absl::StatusOr<gdaqd::worker::CoordinatorClientOptions> options = ClientOptions(flags);
  if (!options.ok()) {
    LOG(ERROR) << "gdaqd-worker: " << options.status();
    return 1;
  }
  absl::StatusOr<std::unique_ptr<gdaqd::worker::CoordinatorClient>> client =
      gdaqd::worker::CoordinatorClient::Create(*std::move(options));
  if (!client.ok()) {
    LOG(ERROR) << "gdaqd-worker: invalid flags: " << client.status();
    return 1;
  }
  LOG(INFO) << "gdaqd-worker version=" << GDAQD_VERSION << " worker_id=" << flags.worker_id
            << " coordinator=" << flags.coordinator << " threads=" << flags.threads
            << " tls=" << !flags.security.ca_file.empty()
            << " token=" << !flags.security.token_file.empty();

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
