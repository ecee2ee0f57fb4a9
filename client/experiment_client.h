// Client side of ExperimentService: every call with a deadline, every failure as one
// absl::Status whose ToString() is "CODE: message" (what the CLI prints).
#ifndef GDAQD_CLIENT_EXPERIMENT_CLIENT_H_
#define GDAQD_CLIENT_EXPERIMENT_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"

namespace gdaqd::client {

// Everything ExportArchive streams, gathered.
struct ExportedArchive {
  gdaqd::v1::ArchiveHeader header;
  std::vector<gdaqd::v1::Elite> elites;  // ascending cell
};

// Thread-safe (gRPC stubs are).
class ExperimentClient {
 public:
  // Connects to `address` ("host:port") with `security`'s channel credentials, and sends its
  // bearer token on every call. Unavailable, naming the address, if the coordinator is not
  // reachable within `connect_timeout` (also when the TLS handshake fails, e.g. a plaintext
  // client against a TLS server). Calls return UNAUTHENTICATED / PERMISSION_DENIED as the
  // coordinator decides (docs/cluster.md §1).
  static absl::StatusOr<std::unique_ptr<ExperimentClient>> Connect(
      const std::string& address, absl::Duration connect_timeout,
      common::ClientSecurity security = {});

  absl::StatusOr<std::string> Submit(const gdaqd::v1::ExperimentConfig& config);
  absl::StatusOr<gdaqd::v1::ExperimentStatus> Get(const std::string& id);
  // Every experiment, ascending id (all pages).
  absl::StatusOr<std::vector<gdaqd::v1::ExperimentStatus>> List();
  absl::StatusOr<gdaqd::v1::ExperimentStatus> Cancel(const std::string& id);
  // Removes a finished experiment and its stored state (FailedPrecondition if it still runs).
  absl::Status Delete(const std::string& id);
  // Calls `on_status` for every streamed status until the experiment reaches a final state;
  // returns that last status. No overall deadline (experiments run for hours); the stream is
  // cancelled by TryCancelWatch() from another thread.
  absl::StatusOr<gdaqd::v1::ExperimentStatus> Watch(
      const std::string& id,
      const std::function<void(const gdaqd::v1::ExperimentStatus&)>& on_status);
  void TryCancelWatch();
  // Streams the whole archive. Deadline scales with nothing: 10 minutes.
  absl::StatusOr<ExportedArchive> Export(const std::string& id);

  const std::string& address() const { return address_; }

 private:
  ExperimentClient(std::string address, std::shared_ptr<grpc::Channel> channel,
                   common::ClientSecurity security);
  // Sets the deadline (unless infinite) and the bearer token on `context`.
  void Prepare(grpc::ClientContext* context, absl::Duration timeout) const;

  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gdaqd::v1::ExperimentService::Stub> stub_;
  const common::ClientSecurity security_;
  std::mutex watch_mu_;
  grpc::ClientContext* watch_context_ = nullptr;  // guarded by watch_mu_
};

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_EXPERIMENT_CLIENT_H_
