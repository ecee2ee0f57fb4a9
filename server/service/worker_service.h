// WorkerService: the coordinator's end of the workers' Connect streams.
#ifndef GDAQD_SERVER_SERVICE_WORKER_SERVICE_H_
#define GDAQD_SERVER_SERVICE_WORKER_SERVICE_H_

#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "server/scheduler/scheduler.h"

namespace gdaqd::server {

// Each Connect stream gets a reactor that registers the worker with the scheduler after its
// hello, forwards its results, writes its assignments, and unregisters it (re-queueing its
// unfinished episodes) when the stream ends for any reason. Thread-safe; `scheduler` must
// outlive the gRPC server this service is registered with.
class WorkerServiceImpl final : public gdaqd::v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerBidiReactor<gdaqd::v1::WorkerMessage, gdaqd::v1::CoordinatorMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  Scheduler* const scheduler_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_WORKER_SERVICE_H_
