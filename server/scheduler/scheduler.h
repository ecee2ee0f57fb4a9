// The coordinator's work scheduler: splits evaluation requests into leases over the connected
// workers, collects per-episode results, re-queues the unfinished episodes of lost or expired
// leases, and drops stale results, so that every episode gets exactly one outcome.
#ifndef GDAQD_SERVER_SCHEDULER_SCHEDULER_H_
#define GDAQD_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/thread.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "server/scheduler/eval_batch.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Where the scheduler sends a worker its assignments: the worker's Connect stream. Send() must
// not block and must not call back into the Scheduler (it is called with the scheduler's lock
// held); it queues the message for writing.
class WorkerSink {
 public:
  virtual ~WorkerSink() = default;
  virtual void Send(std::shared_ptr<const gdaqd::v1::CoordinatorMessage> message) = 0;
};

// Counters since start, for status and metrics.
struct SchedulerStats {
  int64_t connected_workers = 0;
  int64_t queued_episodes = 0;
  int64_t leases_in_flight = 0;
  int64_t episodes_completed = 0;  // outcomes recorded (each episode once)
  int64_t requeued_episodes = 0;   // episodes handed out again after a lost/expired lease
  int64_t stale_results = 0;       // results for unknown, expired or already-complete work
  int64_t malformed_results = 0;   // results that failed validation (recorded as errors)
};

// Thread-safe. Owns a reaper thread that expires leases.
class Scheduler final : public Evaluator {
 public:
  struct Options {
    // Episodes each worker thread may have in flight (queued on the worker plus running).
    int episodes_per_thread = 4;
    // Assignments are kept below this many bytes of parameters (gRPC messages < 1 MiB).
    int64_t max_assignment_bytes = 768 * 1024;
    // How often leases are checked for expiry.
    absl::Duration reaper_period = absl::Milliseconds(250);
  };

  explicit Scheduler(Options options);
  Scheduler() : Scheduler(Options()) {}
  ~Scheduler() override;  // stops the reaper; cancels every pending batch

  // Queues a request; the returned batch completes as results arrive. InvalidArgument if the
  // request is malformed.
  absl::StatusOr<std::shared_ptr<EvalBatch>> Submit(EvalRequest request) ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels the batch and drops its queued episodes; late results for it are ignored.
  void Cancel(const std::shared_ptr<EvalBatch>& batch) ABSL_LOCKS_EXCLUDED(mu_);

  // Evaluator: Submit, then wait until complete or cancelled.
  absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                    const CancelFlag* cancel) override;
  int64_t requeued_episodes() const override;

  // A worker said hello. `sink` must stay valid until UnregisterWorker(worker_id) returns.
  // AlreadyExists if the id is connected; InvalidArgument if threads < 1.
  absl::Status RegisterWorker(const std::string& worker_id, int threads, WorkerSink* sink)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The worker's stream ended: its unfinished episodes go back to the front of the queue.
  // No-op for an unknown id.
  void UnregisterWorker(const std::string& worker_id) ABSL_LOCKS_EXCLUDED(mu_);

  // One result message from a worker. Stale results (unknown or expired lease, episode already
  // complete) are counted and dropped: OK. A malformed result (index out of range, wrong
  // descriptor size, non-finite values on a non-diverged episode) completes the episode with an
  // error outcome and returns InvalidArgument for the caller to log. FailedPrecondition if the
  // worker is not registered.
  absl::Status OnResult(const std::string& worker_id, const gdaqd::v1::EpisodeResult& result)
      ABSL_LOCKS_EXCLUDED(mu_);

  SchedulerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct QueuedEpisode {
    std::shared_ptr<EvalBatch> batch;
    int64_t index;  // episode index in the batch
  };
  struct Lease {
    uint64_t id;
    std::string worker_id;
    std::shared_ptr<EvalBatch> batch;
    std::vector<int64_t> indices;             // lease-local index -> batch index
    std::vector<bool> finished;               // per lease-local index
    std::vector<std::vector<float>> staging;  // transitions received so far, per lease-local index
    std::vector<int32_t> next_chunk;          // expected next chunk number
    int64_t unfinished;
    absl::Time deadline;
  };
  struct Worker {
    WorkerSink* sink;
    int threads;
    int64_t in_flight = 0;  // episodes assigned and not finished
    std::vector<uint64_t> leases;
  };

  // Hands queued episodes to workers with free capacity.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a lease and puts its unfinished episodes back at the front of the queue.
  void RequeueLeaseLocked(uint64_t lease_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks lease-local episode `slot` finished and releases the worker's capacity.
  void FinishSlotLocked(Lease& lease, int slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReaperLoop();

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<QueuedEpisode> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Worker> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<EvalBatch>> batches_ ABSL_GUARDED_BY(mu_);
  uint64_t next_lease_id_ ABSL_GUARDED_BY(mu_) = 1;
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<common::Thread> reaper_;  // last: started after every member exists
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SCHEDULER_SCHEDULER_H_
