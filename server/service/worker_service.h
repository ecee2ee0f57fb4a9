// WorkerService: the coordinator's end of the workers' Connect streams.
#ifndef GDAQD_SERVER_SERVICE_WORKER_SERVICE_H_
#define GDAQD_SERVER_SERVICE_WORKER_SERVICE_H_

#include "absl/time/time.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "server/scheduler/scheduler.h"
#include "server/service/auth.h"

namespace gdaqd::server {

struct WorkerServiceOptions {
  // A stream whose first message has not arrived this long after it opened is ended with
  // DEADLINE_EXCEEDED, so that silent connections hold nothing for long.
  absl::Duration hello_deadline = absl::Seconds(10);
};

// Each Connect stream gets a reactor that registers the worker with the scheduler after its
// hello, forwards its results, writes its assignments, and unregisters it (re-queueing its
// unfinished episodes) when the stream ends for any reason.
//
// Stream statuses the worker sees:
//   DEADLINE_EXCEEDED    no hello within hello_deadline
//   FAILED_PRECONDITION  first message not a hello, or another coordinator version
//   INVALID_ARGUMENT     empty worker_id, threads < 1
//   ALREADY_EXISTS       the worker_id is already connected
//   RESOURCE_EXHAUSTED   its transitions exceeded the scheduler's byte caps (it may reconnect)
//   OK / CANCELLED       the worker closed the stream, or the server shut down
//   UNAUTHENTICATED      no verified client certificate (with --tls_client_ca), or a missing,
//                        unknown or expired token (with --tokens_file); before any message
//   PERMISSION_DENIED    the token's role is neither worker nor admin
// Malformed results do not end the stream: the scheduler records them as error outcomes.
//
// Thread-safe; `scheduler` and `authorizer` (null: no checks) must outlive the gRPC server this
// service is registered with. Each
// reactor owns a grpc::Alarm for its hello deadline and is deleted only after both gRPC's
// OnDone() and the alarm's callback ran, so no callback outlives what it touches.
class WorkerServiceImpl final : public gdaqd::v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(Scheduler* scheduler,
                             WorkerServiceOptions options = WorkerServiceOptions(),
                             const Authorizer* authorizer = nullptr)
      : scheduler_(scheduler), options_(options), authorizer_(authorizer) {}

  grpc::ServerBidiReactor<gdaqd::v1::WorkerMessage, gdaqd::v1::CoordinatorMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  Scheduler* const scheduler_;
  const WorkerServiceOptions options_;
  const Authorizer* const authorizer_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_WORKER_SERVICE_H_
