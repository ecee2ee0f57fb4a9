// The worker's side of WorkerService.Connect (DESIGN.md §2): dial the coordinator, announce
// ourselves, run the assigned episodes and stream their results back, reconnecting on failure.
#ifndef GDAQD_WORKER_COORDINATOR_CLIENT_H_
#define GDAQD_WORKER_COORDINATOR_CLIENT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/rollout.h"
#include "common/tls.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "worker/result_chunks.h"
#include "worker/sim/rollout_engine.h"
#include "worker/worker_observer.h"

namespace gdaqd::worker {

// What CoordinatorClient::Create() needs. A plain value.
struct CoordinatorClientOptions {
  std::string coordinator_address = "127.0.0.1:50051";  // "host:port"
  std::string worker_id;  // required; unique per process, e.g. "hostname:pid"
  int threads = 1;        // rollout threads, >= 1; announced in WorkerHello
  // Reconnections Run() tries after a stream failure before it gives up, counted since the last
  // stream that got its hello through; -1 = never give up, 0 = give up at the first failure.
  int max_reconnect_attempts = -1;
  // Wait before reconnecting: doubles per consecutive failure up to max_backoff, +-20% jitter;
  // back to initial_backoff once a hello went through.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(30);
  // Longest one connection attempt (TCP + HTTP/2 handshake) may take before it fails.
  absl::Duration connect_timeout = absl::Seconds(20);
  // HTTP/2 keepalive pings. gRPC sends at most 2 pings without data in between
  // (GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA), which a default gRPC server tolerates.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Most transition bytes per EpisodeResult message, in [1, kMaxTransitionChunkBytes]; tests
  // lower it to exercise chunking.
  size_t max_chunk_bytes = kMaxTransitionChunkBytes;
  // TLS credentials, server name override and bearer token (docs/cluster.md §1); the default
  // is plaintext without a token.
  common::ClientSecurity security;
  // Told about episodes, the connection and reconnects (the worker's metrics); null: nobody.
  // Must outlive the client.
  WorkerObserver* observer = nullptr;
};

using common::kMaxGrpcMessageBytes;  // set explicitly on the channel (DESIGN.md §6)

// Connects a worker to its coordinator and serves it until Shutdown().
//
// Run() keeps one WorkerService.Connect stream open: it sends a WorkerHello{worker_id, threads,
// GDAQD_VERSION}, reads Assignments and queues every episode on a RolloutEngine of
// `options.threads` threads. Each finished episode goes back as soon as it is done, as one or
// more EpisodeResult messages (see SplitEpisodeResult()); an episode that cannot run (bad
// parameters, unknown task, ...) goes back as one message with `error` set. One writer thread per
// stream performs all writes after the hello, so writes never overlap.
//
// When the stream fails, the client logs one WARNING with the status code, drops the episodes of
// that stream that have not started (the coordinator re-queues them by lease), discards the
// results of those still running, and reconnects with capped exponential backoff and jitter.
//
// Thread-safe: Shutdown() may be called from any thread (e.g. a signal-handling thread) at any
// time, also before or after Run(). Run() may be called once.
class CoordinatorClient {
 public:
  // Starts the rollout threads. Returns InvalidArgument naming the option if one is out of range
  // (empty address or worker_id, threads < 1, non-positive or inverted backoffs or timeouts,
  // max_reconnect_attempts < -1, max_chunk_bytes outside [1, kMaxTransitionChunkBytes]).
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Create(
      CoordinatorClientOptions options);

  // Shutdown()s. Precondition: Run() is not running.
  ~CoordinatorClient();

  CoordinatorClient(const CoordinatorClient&) = delete;
  CoordinatorClient& operator=(const CoordinatorClient&) = delete;

  // Serves the coordinator until Shutdown() (then returns OK) or a permanent error. Returns the
  // coordinator's status if it closed the stream with FAILED_PRECONDITION or INVALID_ARGUMENT
  // (e.g. a version mismatch), UNIMPLEMENTED (not a gdaqd coordinator), UNAUTHENTICATED or
  // PERMISSION_DENIED (wrong token or client certificate); returns the last
  // failure's code (usually UNAVAILABLE) once max_reconnect_attempts consecutive connection
  // attempts have failed. The rollout engine is stopped when Run() returns.
  absl::Status Run() ABSL_LOCKS_EXCLUDED(mu_);

  // Makes Run() return OK soon: cancels the stream, interrupts a backoff wait, drops queued
  // episodes and waits for the running ones (at most one episode per thread). Idempotent.
  // Must not be called from a rollout thread.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Outgoing;
  using Stream = grpc::ClientReaderWriter<gdaqd::v1::WorkerMessage, gdaqd::v1::CoordinatorMessage>;

  explicit CoordinatorClient(CoordinatorClientOptions options);

  // A stub on a new channel to the coordinator (message limits, keepalive, connect timeout).
  std::unique_ptr<gdaqd::v1::WorkerService::Stub> NewStub() const;
  // Runs one stream from dialing to its end. Sets *hello_sent once the hello was written.
  // Returns the stream's final status.
  absl::Status RunStream(bool* hello_sent) ABSL_LOCKS_EXCLUDED(mu_);
  // After the hello: reads assignments until the stream ends while a writer thread sends what
  // `outgoing` collects; then drops the stream's queued episodes and stops the writer.
  void Serve(Stream& stream, uint64_t generation, const std::shared_ptr<Outgoing>& outgoing)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Queues the episodes of `assignment` on the engine, or answers them with errors at once.
  void HandleAssignment(const gdaqd::v1::Assignment& assignment, uint64_t generation,
                        Outgoing& outgoing);
  // The JobContext of `assignment`, reusing the previous one when nothing changed.
  absl::StatusOr<std::shared_ptr<const JobContext>> ContextFor(
      const gdaqd::v1::Assignment& assignment);
  // RolloutEngine callback (rollout threads): serialises the result and queues it for writing.
  void OnEpisodeDone(const EpisodeJob& job, absl::StatusOr<const common::EpisodeResult*> result)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The wait before the next connection attempt: `backoff` +-20%.
  absl::Duration Jittered(absl::Duration backoff);

  const CoordinatorClientOptions options_;
  std::unique_ptr<RolloutEngine> engine_;  // threads call OnEpisodeDone(); stopped by Shutdown()
  absl::Notification shutdown_requested_;

  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // The live stream's context (owned by RunStream()), so that Shutdown() can cancel it.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Where results of the live stream go; null between streams.
  std::shared_ptr<Outgoing> outgoing_ ABSL_GUARDED_BY(mu_);

  // Only the Run() thread touches these.
  uint64_t generation_ = 0;  // stream counter; the `group` of that stream's jobs
  std::shared_ptr<const JobContext> last_context_;
  absl::BitGen bitgen_;
};

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_COORDINATOR_CLIENT_H_
