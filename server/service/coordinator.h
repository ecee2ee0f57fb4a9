// The coordinator process's objects wired together: scheduler, experiment manager and the gRPC
// server exposing ExperimentService and WorkerService. Used by gdaqd-server's main() and by
// tests that need a real coordinator on 127.0.0.1:0.
#ifndef GDAQD_SERVER_SERVICE_COORDINATOR_H_
#define GDAQD_SERVER_SERVICE_COORDINATOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "server/algorithms/experiment_manager.h"
#include "server/scheduler/scheduler.h"
#include "server/service/experiment_service.h"
#include "server/service/worker_service.h"

namespace gdaqd::server {

using common::kMaxGrpcMessageBytes;

struct CoordinatorOptions {
  std::string listen_address = "0.0.0.0:50051";  // "127.0.0.1:0" picks a free port
  Scheduler::Options scheduler;
};

// Thread-safe. Shutdown order (STYLE.md §8): stop accepting RPCs, cancel experiments, then
// destroy the manager (joins runners) and the scheduler.
class Coordinator {
 public:
  // Binds and starts serving. Unavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();  // Shutdown() if not done yet

  // The bound TCP port.
  int port() const { return port_; }
  // Stops serving (in-flight RPCs get until `grace` to end) and cancels every experiment.
  void Shutdown(absl::Duration grace = absl::Seconds(2));

  ExperimentManager& manager() { return *manager_; }
  Scheduler& scheduler() { return *scheduler_; }

 private:
  Coordinator() = default;

  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ExperimentManager> manager_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<ExperimentServiceImpl> experiment_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_COORDINATOR_H_
