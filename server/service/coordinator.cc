#include "server/service/coordinator.h"

#include <arpa/inet.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <netinet/in.h>

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace gdaqd::server {

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  std::string host;
  if (absl::StartsWith(address, "[")) {
    host = std::string(address.substr(1, address.find(']') - 1));
  } else {
    host = std::string(address.substr(0, address.rfind(':')));
  }
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Coordinator::SetUpSecurity(
    const CoordinatorOptions& options) {
  const bool tls = options.tls.enabled();
  const bool tokens = !options.tokens_file.empty();
  // Without TLS the health port is an ordinary port (the authorizer cannot tell them apart), so
  // it is held to the same rule as --listen.
  if (!options.health_listen.empty() && !tls && !IsLoopbackAddress(options.health_listen) &&
      !options.allow_insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve --health_listen ", options.health_listen,
        " without TLS on --listen (it would serve every RPC in clear); add --tls_cert/--tls_key, "
        "or pass --allow_insecure on a trusted network"));
  }
  if (!IsLoopbackAddress(options.listen_address) && !(tls && tokens)) {
    if (!options.allow_insecure) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to serve ", options.listen_address,
          " without TLS and tokens; add --tls_cert/--tls_key and --tokens_file, or pass "
          "--allow_insecure on a trusted network"));
    }
    LOG(WARNING) << "insecure_listen address=" << options.listen_address << " (--allow_insecure)"
                 << (tls ? "" : "; no TLS: requests, results and tokens cross the network in clear")
                 << (tokens ? ""
                            : "; no tokens: anyone who reaches the port can submit, cancel, "
                              "delete, export and connect as a worker");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      common::MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::optional<TokenTable> table;
  if (tokens) {
    absl::StatusOr<TokenTable> loaded = TokenTable::Load(options.tokens_file);
    if (!loaded.ok()) return loaded.status();
    LOG(INFO) << "tokens_loaded file=" << options.tokens_file << " count=" << loaded->size();
    table = *std::move(loaded);
  }
  authorizer_ = std::make_unique<Authorizer>(std::move(table), !options.tls.client_ca_file.empty(),
                                             /*require_tls=*/tls);
  return credentials;
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  std::unique_ptr<Coordinator> coordinator(new Coordinator());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      coordinator->SetUpSecurity(options);
  if (!credentials.ok()) return credentials.status();
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
  coordinator->worker_service_ = std::make_unique<WorkerServiceImpl>(
      coordinator->scheduler_.get(), options.workers, coordinator->authorizer_.get());
  coordinator->experiment_service_ = std::make_unique<ExperimentServiceImpl>(
      coordinator->manager_.get(), coordinator->scheduler_.get(), options.max_export_streams,
      coordinator->authorizer_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, *credentials, &coordinator->port_);
  if (!options.health_listen.empty()) {
    // Plaintext, for probes that cannot speak TLS (Kubernetes' grpc probe); with TLS on, every
    // RPC but grpc.health.v1 (and reflection) is refused there by the authorizer.
    builder.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(),
                             &coordinator->health_port_);
  }
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
  if (coordinator->server_ == nullptr || coordinator->port_ == 0 ||
      (!options.health_listen.empty() && coordinator->health_port_ == 0)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address,
                                               options.health_listen.empty() ? "" : " and ",
                                               options.health_listen, " (address in use?)"));
  }
  grpc::HealthCheckServiceInterface* health = coordinator->server_->GetHealthCheckService();
  health->SetServingStatus(false);
  LOG(INFO) << "coordinator_listening address=" << options.listen_address
            << " port=" << coordinator->port_ << " health_port=" << coordinator->health_port_
            << " metrics_port=" << coordinator->metrics_port() << " version=" << GDAQD_VERSION
            << " state_dir=" << (options.state_dir.empty() ? "(none)" : options.state_dir)
            << " tls=" << options.tls.enabled() << " tokens=" << !options.tokens_file.empty();
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
