#include "server/service/coordinator.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace gdaqd::server {

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  std::unique_ptr<Coordinator> coordinator(new Coordinator());
  coordinator->scheduler_ = std::make_unique<Scheduler>(options.scheduler);
  coordinator->manager_ = std::make_unique<ExperimentManager>(coordinator->scheduler_.get());
  coordinator->worker_service_ = std::make_unique<WorkerServiceImpl>(coordinator->scheduler_.get());
  coordinator->experiment_service_ = std::make_unique<ExperimentServiceImpl>(
      coordinator->manager_.get(), coordinator->scheduler_.get());

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(),
                           &coordinator->port_);
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  // Notice dead workers (a pulled cable sends no FIN) within ~40 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(coordinator->worker_service_.get());
  builder.RegisterService(coordinator->experiment_service_.get());
  coordinator->server_ = builder.BuildAndStart();
  if (coordinator->server_ == nullptr || coordinator->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use?)"));
  }
  LOG(INFO) << "coordinator_listening address=" << options.listen_address
            << " port=" << coordinator->port_ << " version=" << GDAQD_VERSION;
  return coordinator;
}

Coordinator::~Coordinator() { Shutdown(); }

void Coordinator::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  manager_->CancelAll();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  manager_.reset();    // joins experiment runners
  scheduler_.reset();  // stops the lease reaper
  LOG(INFO) << "coordinator_stopped";
}

}  // namespace gdaqd::server
