// gdaqd-server: the coordinator. Parses flags, starts the Coordinator, serves until SIGINT or
// SIGTERM, shuts down in order.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/thread.h"
#include "server/algorithms/registry.h"
#include "server/algorithms/resource_estimate.h"
#include "server/models/blas_threads.h"
#include "server/models/matmul_rate.h"
#include "server/service/coordinator.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "address to serve on; port 0 picks a free port (see --port_file)");
ABSL_FLAG(std::string, state_dir, "gdaqd-state",
          "directory where experiments are checkpointed and restored from at start (one server "
          "per directory)");
ABSL_FLAG(absl::Duration, checkpoint_interval, absl::Seconds(60),
          "checkpoint every running experiment this often (at iteration boundaries), besides at "
          "every final state and at SIGTERM");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(60),
          "after SIGTERM, exit even if checkpoints are still being written after this long (the "
          "previous checkpoints stay valid)");
ABSL_FLAG(int64_t, max_experiment_bytes, gdaqd::server::kDefaultMaxExperimentBytes,
          "refuse (RESOURCE_EXHAUSTED, not worth retrying) an experiment whose estimated memory "
          "(archive, replay buffer, models, CVT, in-flight batch) exceeds this many bytes; 0: no "
          "limit");
ABSL_FLAG(int64_t, memory_budget, gdaqd::server::kDefaultMemoryBudgetBytes,
          "bytes all unfinished experiments may hold together; a submit beyond what is left is "
          "refused (RESOURCE_EXHAUSTED); 0: no limit");
ABSL_FLAG(int, max_export_streams, 16, "archive exports open at once; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_worker_threads, 256,
          "a worker's declared rollout threads are capped at this; its leases grow with the "
          "episodes it actually completes, not with its claim");
ABSL_FLAG(absl::Duration, quarantine_base, absl::Seconds(10),
          "a worker whose leases expire (or whose results are refused) twice in a row gets no new "
          "leases for this long, doubling per further strike");
ABSL_FLAG(absl::Duration, quarantine_max, absl::Minutes(5), "the longest quarantine");
ABSL_FLAG(int64_t, max_worker_staged_mib, 64,
          "transition bytes one worker may have in flight; beyond it its stream is ended with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, hello_deadline, absl::Seconds(10),
          "a worker stream that sends no hello this long after opening is ended "
          "(DEADLINE_EXCEEDED)");
ABSL_FLAG(int, test_hold_checkpoint_write, 0,
          "testing only: the Nth checkpoint write (1-based) stops half-way, prints "
          "GDAQD_CHECKPOINT_HOLD on stdout and waits to be killed");
ABSL_FLAG(std::string, port_file, "",
          "if set, the bound port is written to this file once serving; \"-\" prints GDAQD_PORT=N "
          "on stdout");
ABSL_FLAG(int, blas_threads, 0,
          "threads of the BLAS (OpenBLAS) behind model training; 0 keeps its default (one per "
          "core). 1 when workers share this machine's cores: OpenBLAS's threads spin between "
          "matmuls and take CPU from the rollouts");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain; with --tls_key turns TLS on for the gRPC port");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA of worker client certificates: WorkerService.Connect then requires a verified "
          "client certificate (mutual TLS)");
ABSL_FLAG(std::string, tokens_file, "",
          "bearer tokens, one '<token> <role> <name> [expires=<RFC 3339>]' per line (roles: "
          "worker, reader, submitter, admin); unset: no authentication");
ABSL_FLAG(std::string, health_listen, "",
          "a second, plaintext address serving only grpc.health.v1 when TLS is on (for probes "
          "that cannot speak TLS, e.g. Kubernetes' grpc probe); empty: none");
ABSL_FLAG(bool, allow_insecure, false,
          "serve a non-loopback --listen address without TLS and tokens (trusted networks only; "
          "logs a WARNING)");
ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus /metrics (plain HTTP) on HOST:PORT; port 0 picks a free one, printed "
          "as GDAQD_METRICS_PORT=N with --port_file -; empty: off");
ABSL_FLAG(int, verbosity, 0, "verbose logging level (1: per RPC, 2: per episode)");

#ifndef GDAQD_GIT_COMMIT
#define GDAQD_GIT_COMMIT "unknown"
#endif

namespace {

// SIGINT/SIGTERM become one byte on a pipe that main() reads. A sigwait() on blocked signals is
// not enough: OpenBLAS (loaded with LibTorch) starts its threads before main() runs, with the
// signals unblocked, and a signal the kernel hands to one of them would kill the process without
// a checkpoint. The handler only write()s, which is async-signal-safe.
int g_signal_pipe[2] = {-1, -1};

extern "C" void OnTerminationSignal(int signal_number) {
  const char byte = static_cast<char>(signal_number);
  if (write(g_signal_pipe[1], &byte, 1) < 0) {
    // Nothing safe to do here; the pipe has room for far more signals than anyone sends.
  }
}

bool InstallTerminationHandlers() {
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return false;
  struct sigaction action = {};
  action.sa_handler = OnTerminationSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  return sigaction(SIGINT, &action, nullptr) == 0 && sigaction(SIGTERM, &action, nullptr) == 0;
}

int WaitForTerminationSignal() {
  char byte = 0;
  while (read(g_signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  return byte;
}

}  // namespace

int main(int argc, char** argv) {
  if (!InstallTerminationHandlers()) {
    std::fprintf(stderr, "gdaqd-server: cannot install the SIGTERM handler\n");
    return 1;
  }
  absl::SetProgramUsageMessage(
      "gdaqd coordinator: gdaqd-server --listen HOST:PORT --state_dir DIR");
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return absl::StrCat("gdaqd-server ", GDAQD_VERSION, " (commit ", GDAQD_GIT_COMMIT, ")\n");
  };
  // --help lists this binary's own flags instead of "No flags matched".
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  gdaqd::common::InitLogging(argv[0], absl::GetFlag(FLAGS_verbosity));
  // Debian's abseil is built without NDEBUG, so every Mutex lock pays for deadlock-cycle
  // bookkeeping (5x the cost of a lock); our lock order is checked by -Wthread-safety instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Every algorithm the configs accept must be runnable here (and the reverse): a mismatch is a
  // build error of this binary, reported before the coordinator takes any work.
  if (const absl::Status status = gdaqd::server::CheckAlgorithmRegistry(); !status.ok()) {
    std::fprintf(stderr, "gdaqd-server: %s\n", status.ToString().c_str());
    return 1;
  }

  if (const int blas_threads = absl::GetFlag(FLAGS_blas_threads); blas_threads != 0) {
    if (const absl::Status status = gdaqd::server::models::SetBlasThreads(blas_threads);
        !status.ok()) {
      std::fprintf(stderr, "gdaqd-server: --blas_threads: %s\n", status.ToString().c_str());
      return 1;
    }
  }

  gdaqd::server::CoordinatorOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
  options.max_export_streams = absl::GetFlag(FLAGS_max_export_streams);
  options.scheduler.max_worker_threads = absl::GetFlag(FLAGS_max_worker_threads);
  options.scheduler.quarantine_base = absl::GetFlag(FLAGS_quarantine_base);
  options.scheduler.quarantine_max = absl::GetFlag(FLAGS_quarantine_max);
  options.scheduler.max_worker_staged_bytes = absl::GetFlag(FLAGS_max_worker_staged_mib) << 20;
  options.workers.hello_deadline = absl::GetFlag(FLAGS_hello_deadline);
  options.admission.max_experiment_bytes = absl::GetFlag(FLAGS_max_experiment_bytes);
  options.admission.memory_budget_bytes = absl::GetFlag(FLAGS_memory_budget);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.allow_insecure = absl::GetFlag(FLAGS_allow_insecure);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (const int hold = absl::GetFlag(FLAGS_test_hold_checkpoint_write); hold > 0) {
    options.storage.mid_write_hook =
        [hold, writes = std::make_shared<std::atomic<int>>(0)](const std::string& tmp_path) {
          if (++*writes != hold) return;
          std::printf("GDAQD_CHECKPOINT_HOLD %s\n", tmp_path.c_str());
          std::fflush(stdout);
          while (true) pause();  // until killed
        };
  }
  absl::StatusOr<std::unique_ptr<gdaqd::server::Coordinator>> coordinator =
      gdaqd::server::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::fprintf(stderr, "gdaqd-server: %s\n", coordinator.status().ToString().c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (port_file == "-") {
    std::printf("GDAQD_PORT=%d\n", (*coordinator)->port());
    if ((*coordinator)->metrics_port() != 0) {
      std::printf("GDAQD_METRICS_PORT=%d\n", (*coordinator)->metrics_port());
    }
    std::fflush(stdout);
  } else if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*coordinator)->port() << "\n";
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      std::fprintf(stderr, "gdaqd-server: cannot write %s\n", port_file.c_str());
      return 1;
    }
  }
  // Learning speed depends on the BLAS behind LibTorch (issue 4: the reference BLAS is ~30x
  // slower than OpenBLAS); say what this machine gives, once the port is published.
  absl::StatusOr<double> gflops = gdaqd::server::models::MeasureMatmulGflops("auto");
  if (gflops.ok()) {
    LOG(INFO) << "torch_matmul_rate gflops=" << *gflops
              << " shape=[256,512]x[512,512] torch_threads=1 blas_threads="
              << gdaqd::server::models::BlasThreads().value_or(1);
    if (*gflops < 20) {
      LOG(WARNING) << "LibTorch matmul runs at " << *gflops
                   << " GFLOP/s: the system BLAS looks like the reference one; install "
                      "libopenblas0-pthread for ~30x faster model training";
    }
  } else {
    LOG(WARNING) << "cannot measure the torch matmul rate: " << gflops.status();
  }
  const int signal_number = WaitForTerminationSignal();
  LOG(INFO) << "shutdown signal=" << signal_number;
  // Bounded shutdown: a checkpoint write that hangs (a dead NFS mount) must not keep the process
  // alive forever; checkpoints are atomic, so exiting mid-write loses only the newest one.
  absl::Notification stopped;
  const absl::Duration timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  gdaqd::common::Thread watchdog("shutdown-watch", [&stopped, timeout] {
    if (!stopped.WaitForNotificationWithTimeout(timeout)) {
      LOG(ERROR) << "shutdown_timeout seconds=" << absl::ToDoubleSeconds(timeout)
                 << " action=exit_without_waiting";
      _exit(3);
    }
  });
  (*coordinator)->Shutdown();
  stopped.Notify();
  watchdog.Join();
  // Everything is durable and every thread of ours is stopped. Returning would run
  // LibTorch's static destructors, which deregister each of its operator kernels: seconds of CPU
  // that, on a loaded machine, outlast an orchestrator's stop grace (a test saw > 8 s). Flush
  // and leave without them.
  google::FlushLogFiles(google::GLOG_INFO);
  std::fflush(nullptr);
  std::_Exit(0);
}
