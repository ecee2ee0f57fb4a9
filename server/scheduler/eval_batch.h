// The coordinator-side state of one submitted evaluation request: which episodes have an
// outcome, and a way to wait for all of them.
#ifndef GDAQD_SERVER_SCHEDULER_EVAL_BATCH_H_
#define GDAQD_SERVER_SCHEDULER_EVAL_BATCH_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/scheduler/evaluator.h"
#include "server/scheduler/result_validation.h"

namespace gdaqd::server {

// Thread-safe. Each episode is completed at most once: later outcomes for the same index (a
// re-queued episode finishing twice) are ignored, which is what makes "none counted twice" hold.
//
// The request is either owned (moved in) or borrowed from a caller that blocks until the batch
// is complete or cancelled (Scheduler::EvaluateWithStats: a PointMaze batch carries 18 MB of
// parameters, which it then need not copy). A borrowed request is dropped by ForgetRequest()
// before that caller returns; limits(), max_episode_transition_bytes() and the outcome methods
// stay usable afterwards, request() does not.
class EvalBatch {
 public:
  // Owns `request`.
  explicit EvalBatch(EvalRequest request);
  // Borrows `*request` (not null) until ForgetRequest().
  explicit EvalBatch(const EvalRequest* request);

  EvalBatch(const EvalBatch&) = delete;
  EvalBatch& operator=(const EvalBatch&) = delete;

  // Precondition: not called after ForgetRequest(); the Scheduler reads it only under its own
  // lock, for episodes still queued, which is what makes ForgetRequest() (under the same lock)
  // safe.
  const EvalRequest& request() const { return *request_; }
  // Drops the reference to a borrowed request (no-op for an owned one). Call it, with the
  // caller's synchronisation of request() readers, before the borrowed request goes away.
  void ForgetRequest() {
    if (!owned_.has_value()) request_ = nullptr;
  }
  // ResultLimitsFor(request()), computed once.
  const ResultLimits& limits() const { return limits_; }
  // MaxEpisodeTransitionBytes(limits()), computed once.
  int64_t max_episode_transition_bytes() const { return max_episode_transition_bytes_; }

  // Records the outcome of episode `index` if it has none yet. Returns true if recorded.
  bool Complete(int64_t index, EvalOutcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  bool is_done(int64_t index) const ABSL_LOCKS_EXCLUDED(mu_);

  // Marks the batch cancelled and wakes waiters; queued episodes are then skipped.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until all episodes are complete, the batch is cancelled, or `timeout` passes.
  // Returns true iff all episodes are complete.
  bool WaitFor(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  int64_t remaining() const ABSL_LOCKS_EXCLUDED(mu_);

  // Counts `n` of this batch's episodes handed out again after a lost, expired or revoked lease
  // (called by the Scheduler), so that an experiment can report its own re-queues.
  void AddRequeued(int64_t n) ABSL_LOCKS_EXCLUDED(mu_);
  int64_t requeued() const ABSL_LOCKS_EXCLUDED(mu_);

  // Moves the outcomes out. Precondition: all complete.
  std::vector<EvalOutcome> TakeOutcomes() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::optional<EvalRequest> owned_;  // set iff the request is owned
  const EvalRequest* request_;        // &*owned_, the borrowed request, or null once forgotten
  const ResultLimits limits_;
  const int64_t max_episode_transition_bytes_;
  mutable absl::Mutex mu_;
  std::vector<EvalOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> done_ ABSL_GUARDED_BY(mu_);
  int64_t remaining_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int64_t requeued_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SCHEDULER_EVAL_BATCH_H_
