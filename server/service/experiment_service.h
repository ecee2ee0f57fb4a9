// ExperimentService: the coordinator's API for users (the gdaqd CLI, Python clients).
#ifndef GDAQD_SERVER_SERVICE_EXPERIMENT_SERVICE_H_
#define GDAQD_SERVER_SERVICE_EXPERIMENT_SERVICE_H_

#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "server/algorithms/experiment_manager.h"
#include "server/scheduler/scheduler.h"

namespace gdaqd::server {

// Adapters only: validate, call the ExperimentManager, map the status (STYLE.md §6).
// Thread-safe; `manager` and `scheduler` must outlive the gRPC server.
class ExperimentServiceImpl final : public gdaqd::v1::ExperimentService::CallbackService {
 public:
  ExperimentServiceImpl(ExperimentManager* manager, const Scheduler* scheduler)
      : manager_(manager), scheduler_(scheduler) {}

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
  grpc::ServerWriteReactor<gdaqd::v1::ExperimentStatus>* WatchExperiment(
      grpc::CallbackServerContext* context,
      const gdaqd::v1::WatchExperimentRequest* request) override;
  grpc::ServerWriteReactor<gdaqd::v1::ExportArchiveResponse>* ExportArchive(
      grpc::CallbackServerContext* context,
      const gdaqd::v1::ExportArchiveRequest* request) override;

 private:
  ExperimentManager* const manager_;
  const Scheduler* const scheduler_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_EXPERIMENT_SERVICE_H_
