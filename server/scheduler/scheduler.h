// The coordinator's work scheduler: splits evaluation requests into leases over the connected
// workers, collects per-episode results, re-queues the unfinished episodes of lost or expired
// leases, and drops stale results, so that every episode gets exactly one outcome.
#ifndef GDAQD_SERVER_SCHEDULER_SCHEDULER_H_
#define GDAQD_SERVER_SCHEDULER_SCHEDULER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
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
#include "server/scheduler/result_validation.h"

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
  int64_t episodes_completed = 0;   // outcomes recorded (each episode once)
  int64_t requeued_episodes = 0;    // episodes handed out again after a lost/expired/revoked lease
  int64_t stale_results = 0;        // results for unknown, expired or already-complete work
  int64_t malformed_results = 0;    // results refused, any reason but worker_error (sum below)
  int64_t expired_leases = 0;       // leases whose deadline passed with episodes unfinished
  int64_t quarantines = 0;          // times a worker entered quarantine
  int64_t quarantined_workers = 0;  // connected workers in quarantine now
  int64_t clamped_workers = 0;      // hellos whose threads were cut to max_worker_threads
  // Results by why they were refused, indexed by ResultCheck ([kAccepted] stays 0). Worker errors
  // are counted here too; kTooManyBytes counts streams refused with ResourceExhausted.
  std::array<int64_t, kNumResultChecks> rejected{};

  int64_t rejected_by(ResultCheck check) const { return rejected[static_cast<int>(check)]; }
};

// Thread-safe. Owns a reaper thread that expires leases.
//
// No worker can stall or poison the coordinator (docs/durability.md §5):
//  - Capacity follows measured throughput, not the claim: a worker's declared threads are cut to
//    max_worker_threads; it starts with min(threads, initial_credit_threads) x
//    episodes_per_thread episodes of credit, gains one per episode it completes (accepted
//    result) up to threads x episodes_per_thread, and loses half (floor 1) when a lease expires.
//  - An expired (or revoked) lease's episodes avoid the worker that held it while another worker
//    that is not quarantined is connected, and that worker is on probation: until it sends any
//    result message it gets new leases only when no healthy worker is connected. A SIGSTOPped
//    or hung worker therefore costs about one lease timeout, not one per iteration.
//  - Every finished result is checked by ValidateEpisodeResult() against the request's limits;
//    a refused result completes its episode as an error outcome (never inserted) and, like an
//    expiry, halves the worker's credit and counts as a strike. (A worker-reported error is
//    neither: honest workers report e.g. non-finite parameters that way.)
//  - quarantine_after_expiries strikes in a row (lease expiries or refused results with no
//    accepted episode in between; leases that expire in the same sweep count once) quarantine a
//    worker: no new leases for quarantine_base, doubling with every further strike, at most
//    quarantine_max. It may still deliver results for the leases it holds. A fast worker that
//    forges results therefore cannot take most of the work.
//  - Transition bytes staged per episode are capped at the episode's honest size plus
//    chunk_slack_bytes, and per worker at max_worker_staged_bytes; beyond either, OnResult
//    revokes the lease (its episodes are re-queued elsewhere), gives the worker no more leases,
//    and returns ResourceExhausted for the caller to end the stream.
//  - PumpLocked() scans the workers once per lease it forms and never scans the queue, so a
//    result costs O(workers) at most.
class Scheduler final : public Evaluator {
 public:
  struct Options {
    // Episodes each worker thread may have in flight (queued on the worker plus running).
    int episodes_per_thread = 4;
    // A worker that has some episodes in flight gets its next lease only once this fraction of
    // its capacity is free (or fewer episodes than that are queued), so that in steady state a
    // lease carries several episodes rather than one per completed episode; the episodes still
    // in flight (>= 3 per thread at 0.25) keep its threads busy meanwhile. 0: lease on every
    // free slot.
    double lease_refill_fraction = 0.25;
    // Assignments are kept below this many bytes of parameters (gRPC messages < 1 MiB).
    int64_t max_assignment_bytes = 768 * 1024;
    // How often leases are checked for expiry (and quarantines for their end).
    absl::Duration reaper_period = absl::Milliseconds(250);
    // Declared threads above this are cut to it (logged, counted in clamped_workers).
    int max_worker_threads = 256;
    // A new worker's starting credit, in threads' worth of episodes_per_thread.
    int initial_credit_threads = 2;
    // Strikes (lease expiries, refused results) in a row, with no accepted episode in between,
    // that quarantine a worker.
    int quarantine_after_expiries = 2;
    // First quarantine; each further strike in the streak doubles it, up to quarantine_max.
    absl::Duration quarantine_base = absl::Seconds(10);
    absl::Duration quarantine_max = absl::Minutes(5);
    // Transition bytes an episode may stage beyond episode_length x row bytes: one chunk (workers
    // send at most 512 KiB of transitions per message; 1 MiB is the message budget).
    int64_t chunk_slack_bytes = 1 << 20;
    // Transition bytes one worker may have staged over all its unfinished episodes.
    int64_t max_worker_staged_bytes = int64_t{64} << 20;
    // Clock of lease deadlines and quarantines; null means absl::Now (tests inject a fake one,
    // then call ReapNow()).
    std::function<absl::Time()> clock = nullptr;
  };

  explicit Scheduler(Options options);
  Scheduler() : Scheduler(Options()) {}
  ~Scheduler() override;  // stops the reaper; cancels every pending batch

  // Queues a request; the returned batch completes as results arrive. When the request's result
  // limits are unset (episode_length 0) and env.task() is a known task, they are first set from
  // its TaskSpec (ApplyTaskLimits). InvalidArgument if the request is malformed, Unavailable
  // while shutting down.
  absl::StatusOr<std::shared_ptr<EvalBatch>> Submit(EvalRequest request) ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels the batch and drops its queued episodes; late results for it are ignored.
  void Cancel(const std::shared_ptr<EvalBatch>& batch) ABSL_LOCKS_EXCLUDED(mu_);

  // Evaluator: queue the request, then wait until complete or cancelled. A request whose
  // result limits are set (episode_length > 0) is not copied: the batch borrows it for the
  // duration of the call; one without them is copied and given its task's limits (Submit()).
  absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                    const CancelFlag* cancel) override;
  // Evaluate(), plus this request's own re-queue count (EvalBatch::requeued()).
  absl::StatusOr<std::vector<EvalOutcome>> EvaluateWithStats(const EvalRequest& request,
                                                             const CancelFlag* cancel,
                                                             EvalCallStats* stats) override;
  int64_t requeued_episodes() const override;

  // A worker said hello. `sink` must stay valid until UnregisterWorker(worker_id) returns.
  // Threads above max_worker_threads are cut to it. AlreadyExists if the id is connected;
  // InvalidArgument if threads < 1.
  absl::Status RegisterWorker(const std::string& worker_id, int threads, WorkerSink* sink)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The worker's stream ended: its unfinished episodes go back to the front of the queue.
  // No-op for an unknown id.
  void UnregisterWorker(const std::string& worker_id) ABSL_LOCKS_EXCLUDED(mu_);

  // One result message from a worker. Stale results (unknown or expired lease, episode already
  // complete) are counted and dropped: OK. A result refused by ValidateEpisodeResult(), a chunk
  // out of order or an index outside the lease is counted by reason and is a strike against the
  // worker; the first two complete the episode with an error outcome, and InvalidArgument is
  // returned for the caller to log. A
  // worker-reported error completes the episode with an error outcome: OK. ResourceExhausted
  // when the transition byte caps are exceeded: the lease is revoked, the worker gets no more
  // leases, and the caller must end its stream. FailedPrecondition if the worker is not
  // registered.
  absl::Status OnResult(const std::string& worker_id, const gdaqd::v1::EpisodeResult& result)
      ABSL_LOCKS_EXCLUDED(mu_);

  SchedulerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until at least `count` workers are connected or `timeout` passes; returns whether
  // they are. For tests and launchers that start worker processes.
  bool WaitForWorkers(int64_t count, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);

  // Runs one expiry sweep now, as the reaper thread does every reaper_period: expires leases
  // past their deadline (by Options::clock) and hands out work to workers whose quarantine
  // ended. For tests with a fake clock.
  void ReapNow() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct QueuedEpisode {
    std::shared_ptr<EvalBatch> batch;
    int64_t index;  // episode index in the batch
    // The worker whose lease on this episode expired or was revoked; empty if none.
    std::string avoid_worker;
  };
  struct Lease {
    uint64_t id;
    std::string worker_id;
    std::shared_ptr<EvalBatch> batch;
    std::vector<int64_t> indices;             // lease-local index -> batch index
    std::vector<bool> finished;               // per lease-local index
    std::vector<std::vector<float>> staging;  // transitions received so far, per lease-local index
    std::vector<int32_t> next_chunk;          // expected next chunk number
    // What each result must echo: the batch's actor version and each episode's skill (copied
    // at assignment, since a borrowed request may be forgotten before late results arrive).
    uint64_t actor_version = 0;
    std::vector<std::optional<int>> skills;  // per lease-local index
    int64_t unfinished;
    absl::Time deadline;
  };
  struct Worker {
    WorkerSink* sink = nullptr;
    int threads = 1;           // declared, cut to max_worker_threads
    int64_t max_capacity = 1;  // threads x episodes_per_thread
    int64_t capacity = 1;      // episodes it may have in flight now, in [1, max_capacity]
    int64_t in_flight = 0;     // episodes assigned and not finished
    std::vector<uint64_t> leases;
    int strikes = 0;  // lease expiries and refused results since its last accepted episode
    absl::Time quarantined_until = absl::InfinitePast();
    bool probation = false;    // a lease expired and it has sent nothing since
    bool refused = false;      // exceeded a byte cap: no more leases on this stream
    int64_t staged_bytes = 0;  // transition bytes staged over its leases
  };
  // The worker PickWorkerLocked() chose; `fallback` when it is one the episode should avoid
  // (probation or its own expired lease) because no healthy worker is connected.
  struct Pick {
    Worker* worker = nullptr;
    const std::string* id = nullptr;
    bool fallback = false;
  };

  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  // Queues every episode of a validated batch and hands out work. Unavailable while stopping.
  absl::StatusOr<std::shared_ptr<EvalBatch>> Enqueue(std::shared_ptr<EvalBatch> batch)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Called once its waiter is done with `batch` (complete or cancelled): drops its queued
  // episodes and its request, which EvaluateWithStats() borrows. Leases of it may remain (their
  // late results are stale); they use only its limits and outcome slots.
  void Retire(EvalBatch& batch) ABSL_LOCKS_EXCLUDED(mu_);
  // Hands queued episodes to workers with free capacity.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The worker with the most free capacity that may take an episode avoiding `avoid`. A worker
  // with episodes in flight counts only once lease_refill_fraction of its capacity is free,
  // capped at `batch_limit` (the most one lease can carry now), so the refill never waits for
  // more room than a lease would fill.
  Pick PickWorkerLocked(const std::string& avoid, int64_t batch_limit, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forms one lease for `pick` from the front of the queue and sends it. Returns false if the
  // front episode could not be leased (nothing was sent).
  bool LeaseFrontLocked(const Pick& pick, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a lease and puts its unfinished episodes back at the front of the queue, marked to
  // avoid the lease's worker.
  void RequeueLeaseLocked(uint64_t lease_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks lease-local episode `slot` finished and releases the worker's capacity and bytes.
  void FinishSlotLocked(Lease& lease, int slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stages one chunk's transitions. ResourceExhausted (lease revoked) past the byte caps.
  absl::Status StageChunkLocked(Worker& worker, Lease& lease, int slot, const std::string& bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Completes episode `slot` of `lease` (held by `worker`) per `verdict` on its final message
  // `result`: accepted (credit, streak reset) or an error outcome (counted; a strike unless the
  // worker reported the error). Returns what OnResult returns.
  absl::Status FinishEpisodeLocked(const std::string& worker_id, Worker& worker, Lease& lease,
                                   int slot, const gdaqd::v1::EpisodeResult& result,
                                   const ResultVerdict& verdict) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Completes episode `slot` of `lease` with `outcome`, releases the slot, re-pumps.
  void CompleteSlotLocked(Lease& lease, int slot, EvalOutcome outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A strike against `worker_id` at `now`, for an expired lease (`silent`: also probation) or a
  // refused result: halve its capacity, extend its streak, quarantine it past the threshold.
  void PenalizeLocked(const std::string& worker_id, absl::Time now, bool silent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReapLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountRejectedLocked(ResultCheck check) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
