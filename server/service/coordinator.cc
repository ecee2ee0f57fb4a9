#include "server/service/coordinator.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace gdaqd::server {

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  std::unique_ptr<Coordinator> coordinator(new Coordinator());
  ExperimentManagerOptions manager_options;
  if (!options.state_dir.empty()) {
    absl::StatusOr<std::unique_ptr<storage::StateDir>> state_dir =
        storage::StateDir::Open(options.state_dir, options.storage);
    if (!state_dir.ok()) return state_dir.status();
    coordinator->state_dir_ = std::move(state_dir).value();
    manager_options.state_dir = coordinator->state_dir_.get();
  }
  manager_options.checkpoint_interval = options.checkpoint_interval;
  manager_options.admission = options.admission;
  coordinator->scheduler_ = std::make_unique<Scheduler>(options.scheduler);
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<metrics::CoordinatorMetrics>> metrics =
        metrics::CoordinatorMetrics::Start(options.metrics_listen, coordinator->scheduler_.get());
    if (!metrics.ok()) return metrics.status();
    coordinator->metrics_ = std::move(metrics).value();
    manager_options.observer = coordinator->metrics_->observer();
  }
  coordinator->manager_ =
      std::make_unique<ExperimentManager>(coordinator->scheduler_.get(), manager_options);
  if (coordinator->metrics_ != nullptr) {
    coordinator->metrics_->SetManager(coordinator->manager_.get());
  }
  coordinator->worker_service_ =
      std::make_unique<WorkerServiceImpl>(coordinator->scheduler_.get(), options.workers);
  coordinator->experiment_service_ = std::make_unique<ExperimentServiceImpl>(
      coordinator->manager_.get(), coordinator->scheduler_.get(), options.max_export_streams);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
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
  grpc::HealthCheckServiceInterface* health = coordinator->server_->GetHealthCheckService();
  health->SetServingStatus(false);
  LOG(INFO) << "coordinator_listening address=" << options.listen_address
            << " port=" << coordinator->port_ << " version=" << GDAQD_VERSION
            << " state_dir=" << (options.state_dir.empty() ? "(none)" : options.state_dir)
            << " metrics_port=" << coordinator->metrics_port();
  const absl::Time restore_start = absl::Now();
  absl::StatusOr<int> restored = coordinator->manager_->RestoreAll();
  if (!restored.ok()) return restored.status();
  health->SetServingStatus(true);
  LOG(INFO) << "coordinator_serving restored_experiments=" << *restored
            << " restore_seconds=" << absl::ToDoubleSeconds(absl::Now() - restore_start);
  return coordinator;
}

Coordinator::~Coordinator() { Shutdown(); }

void Coordinator::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  // Start() may have failed half-way: only what exists is stopped.
  if (server_ != nullptr) server_->GetHealthCheckService()->SetServingStatus(false);
  if (manager_ != nullptr) manager_->Shutdown();  // each running experiment checkpoints
  const absl::Time checkpointed = absl::Now();
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  if (metrics_ != nullptr) metrics_->StopServing();  // no scrape reads the manager any more
  manager_.reset();
  metrics_.reset();    // the experiments' observer, after the experiments
  scheduler_.reset();  // stops the lease reaper
  state_dir_.reset();  // releases the lock
  LOG(INFO) << "coordinator_stopped checkpoint_seconds="
            << absl::ToDoubleSeconds(checkpointed - start)
            << " total_seconds=" << absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace gdaqd::server
