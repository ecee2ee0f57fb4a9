// The coordinator process's objects wired together: state directory, scheduler, experiment
// manager and the gRPC server exposing ExperimentService, WorkerService, the standard health
// service (grpc.health.v1) and server reflection. Used by gdaqd-server's main() and by tests that
// need a real coordinator on 127.0.0.1:0.
#ifndef GDAQD_SERVER_SERVICE_COORDINATOR_H_
#define GDAQD_SERVER_SERVICE_COORDINATOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/tls.h"
#include "server/algorithms/experiment_manager.h"
#include "server/metrics/coordinator_metrics.h"
#include "server/scheduler/scheduler.h"
#include "server/service/auth.h"
#include "server/service/experiment_service.h"
#include "server/service/worker_service.h"
#include "server/storage/state_dir.h"

namespace gdaqd::server {

using common::kMaxGrpcMessageBytes;

struct CoordinatorOptions {
  std::string listen_address = "127.0.0.1:50051";  // "127.0.0.1:0" picks a free port
  // Experiments are checkpointed here and restored from here at start. Empty: in memory only
  // (unit tests; nothing survives the process).
  std::string state_dir;
  absl::Duration checkpoint_interval = absl::Seconds(60);
  int max_export_streams = ExperimentServiceImpl::kDefaultMaxExportStreams;
  AdmissionLimits admission;  // --max_experiment_bytes, --memory_budget
  Scheduler::Options scheduler;
  WorkerServiceOptions workers;        // hello deadline
  storage::StateDir::Options storage;  // test hooks
  // Security (docs/cluster.md §1). A listen address other than loopback needs TLS and tokens
  // unless allow_insecure.
  common::ServerTlsOptions tls;  // --tls_cert, --tls_key, --tls_client_ca; empty: plaintext
  std::string tokens_file;       // --tokens_file; empty: no tokens (everyone is admin)
  bool allow_insecure = false;   // --allow_insecure
  // --health_listen: a second, plaintext port for probes that cannot speak TLS (Kubernetes'
  // grpc probe). With TLS on it serves only grpc.health.v1 (and reflection); without TLS it is
  // one more plaintext port, held to the same loopback rule as listen_address. Empty: none.
  std::string health_listen;
  // Prometheus /metrics (docs/cluster.md §2) on "HOST:PORT" (port 0 picks a free one); empty: off.
  std::string metrics_listen;
};

// Whether `address` ("host:port", "[v6]:port", "unix:path") only accepts local connections:
// localhost, 127.0.0.0/8, ::1 or a Unix socket.
bool IsLoopbackAddress(absl::string_view address);

// Thread-safe. Start order: lock the state directory, serve /metrics (if asked), serve (health
// NOT_SERVING), restore every experiment, then SERVING. Shutdown order (STYLE.md §8): NOT_SERVING,
// interrupt experiments (each checkpoints where it stands), stop serving gRPC and /metrics,
// destroy the manager, the metrics and the scheduler.
class Coordinator {
 public:
  // Binds and starts serving. Unavailable if the address (or metrics_listen) cannot be bound,
  // InvalidArgument if metrics_listen is not HOST:PORT; FailedPrecondition if
  // another server holds the state directory; errno codes if it cannot be read.
  // FailedPrecondition ("refusing to serve ADDRESS without TLS and tokens; ...") for a
  // non-loopback address without both TLS and tokens nor allow_insecure; the errors of
  // common::MakeServerCredentials() and TokenTable::Load() for bad TLS or tokens files.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();  // Shutdown() if not done yet

  // The bound TCP port, and the --health_listen one (0 when there is none).
  int port() const { return port_; }
  int health_port() const { return health_port_; }
  // The bound port of the /metrics endpoint; 0 when metrics are off.
  int metrics_port() const { return metrics_ != nullptr ? metrics_->port() : 0; }
  // Interrupts every experiment (each writes its checkpoint), then stops serving (in-flight RPCs
  // get until `grace` to end). Experiments keep their states for the next start.
  void Shutdown(absl::Duration grace = absl::Seconds(2));

  ExperimentManager& manager() { return *manager_; }
  Scheduler& scheduler() { return *scheduler_; }

 private:
  Coordinator() = default;
  // Checks the listen address against the security options, loads the tokens into
  // authorizer_ and returns the server credentials.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> SetUpSecurity(
      const CoordinatorOptions& options);

  std::unique_ptr<storage::StateDir> state_dir_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<metrics::CoordinatorMetrics> metrics_;  // null when metrics are off
  std::unique_ptr<ExperimentManager> manager_;
  std::unique_ptr<Authorizer> authorizer_;  // outlives the services that use it
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<ExperimentServiceImpl> experiment_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int health_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_COORDINATOR_H_
