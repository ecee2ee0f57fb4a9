// ExperimentService: the coordinator's API for users (the gdaqd CLI, Python clients).
#ifndef GDAQD_SERVER_SERVICE_EXPERIMENT_SERVICE_H_
#define GDAQD_SERVER_SERVICE_EXPERIMENT_SERVICE_H_

#include <atomic>

#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "server/algorithms/experiment_manager.h"
#include "server/scheduler/scheduler.h"
#include "server/service/auth.h"

namespace gdaqd::server {

// Adapters only: validate, call the ExperimentManager, map the status (STYLE.md §6).
// Thread-safe; `manager` and `scheduler` must outlive the gRPC server.
//
// Codes: NOT_FOUND for unknown ids; INVALID_ARGUMENT for bad configs (naming the field) and bad
// page sizes or tokens; RESOURCE_EXHAUSTED when more than `max_export_streams` exports are open
// at once (each holds at most one elite in memory when it exports from disk, the filled elites
// when the experiment is running); FAILED_PRECONDITION for deleting an unfinished experiment;
// UNAVAILABLE while shutting down or when the state directory cannot be written.
// Every RPC first asks `authorizer` (docs/cluster.md §1): UNAUTHENTICATED for a missing, unknown
// or expired token, PERMISSION_DENIED for a role the RPC does not accept and for cancelling or
// deleting someone else's experiment without the admin role.
class ExperimentServiceImpl final : public gdaqd::v1::ExperimentService::CallbackService {
 public:
  static constexpr int kDefaultMaxExportStreams = 16;

  ExperimentServiceImpl(ExperimentManager* manager, const Scheduler* scheduler,
                        int max_export_streams = kDefaultMaxExportStreams,
                        const Authorizer* authorizer = nullptr)  // null: no checks
      : manager_(manager),
        scheduler_(scheduler),
        max_export_streams_(max_export_streams),
        authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* SubmitExperiment(
      grpc::CallbackServerContext* context, const gdaqd::v1::SubmitExperimentRequest* request,
      gdaqd::v1::SubmitExperimentResponse* response) override;
  grpc::ServerUnaryReactor* GetExperiment(grpc::CallbackServerContext* context,
                                          const gdaqd::v1::GetExperimentRequest* request,
                                          gdaqd::v1::ExperimentStatus* response) override;
  grpc::ServerUnaryReactor* ListExperiments(grpc::CallbackServerContext* context,
                                            const gdaqd::v1::ListExperimentsRequest* request,
                                            gdaqd::v1::ListExperimentsResponse* response) override;
  grpc::ServerUnaryReactor* CancelExperiment(
      grpc::CallbackServerContext* context, const gdaqd::v1::CancelExperimentRequest* request,
      gdaqd::v1::CancelExperimentResponse* response) override;
  grpc::ServerUnaryReactor* DeleteExperiment(
      grpc::CallbackServerContext* context, const gdaqd::v1::DeleteExperimentRequest* request,
      gdaqd::v1::DeleteExperimentResponse* response) override;
  grpc::ServerWriteReactor<gdaqd::v1::ExperimentStatus>* WatchExperiment(
      grpc::CallbackServerContext* context,
      const gdaqd::v1::WatchExperimentRequest* request) override;
  grpc::ServerWriteReactor<gdaqd::v1::ExportArchiveResponse>* ExportArchive(
      grpc::CallbackServerContext* context,
      const gdaqd::v1::ExportArchiveRequest* request) override;

 private:
  // The caller of `rpc` if it may call it with `roles`; see Authorizer::Authorize().
  absl::StatusOr<Principal> Authorize(grpc::CallbackServerContext* context, absl::string_view rpc,
                                      RoleSet roles) const;
  // The experiment `id` if `principal` may cancel or delete it (PERMISSION_DENIED otherwise).
  absl::StatusOr<std::shared_ptr<Experiment>> GetManaged(const Principal& principal,
                                                         const std::string& id,
                                                         absl::string_view rpc) const;

  ExperimentManager* const manager_;
  const Scheduler* const scheduler_;
  const int max_export_streams_;
  const Authorizer* const authorizer_;  // may be null; must outlive the server
  std::atomic<int> export_streams_{0};  // open ExportArchive streams
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_EXPERIMENT_SERVICE_H_
