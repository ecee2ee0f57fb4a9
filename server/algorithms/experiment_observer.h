// A hook through which experiments report events that must be observed where they happen (one
// iteration's phase durations, one checkpoint write), e.g. for Prometheus histograms
// (server/metrics). Keeps this library free of any metrics dependency.
#ifndef GDAQD_SERVER_ALGORITHMS_EXPERIMENT_OBSERVER_H_
#define GDAQD_SERVER_ALGORITHMS_EXPERIMENT_OBSERVER_H_

#include <string>

#include "absl/time/time.h"

namespace gdaqd::server {

// What one iteration spent in each phase, seconds (>= 0). Phases an algorithm does not have are
// 0 (MAP-Elites has neither imagination, training nor gradient steps).
struct IterationPhases {
  double evaluation = 0;   // waiting for the batch's real evaluations
  double imagination = 0;  // imagined rollouts and imagined insertions
  double training = 0;     // dynamics-model and critic training
  double gradient = 0;     // policy-gradient children
};

// Implementations must be thread-safe: every experiment calls from its own runner thread, and
// Experiment::Create() from the submitting thread. Calls must return quickly and must not call
// back into the experiment or its manager.
class ExperimentObserver {
 public:
  virtual ~ExperimentObserver() = default;

  // After iteration `iteration` of `experiment_id` was told and recorded.
  virtual void OnIteration(const std::string& experiment_id, int64_t iteration,
                           const IterationPhases& phases) = 0;
  // After each checkpoint write to the state directory (any experiment), successful or not.
  virtual void OnCheckpoint(absl::Duration duration, bool ok) = 0;
  // Once `experiment_id` reached a final state (SUCCEEDED, FAILED, CANCELLED). No further
  // OnIteration for it follows, so per-experiment state may be dropped.
  virtual void OnFinished(const std::string& experiment_id) = 0;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_EXPERIMENT_OBSERVER_H_
