// In-process Evaluator: rolls policies out on a few threads of this process with the same
// common/ rollout code the workers run. For tests, benchmarks (the baseline of the distribution
// overhead ratio) and debugging without a cluster.
#ifndef GDAQD_SERVER_SCHEDULER_LOCAL_EVALUATOR_H_
#define GDAQD_SERVER_SCHEDULER_LOCAL_EVALUATOR_H_

#include <vector>

#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Thread-safe (each Evaluate call uses its own threads and environments).
class LocalEvaluator final : public Evaluator {
 public:
  explicit LocalEvaluator(int threads) : threads_(threads < 1 ? 1 : threads) {}

  // InvalidArgument for a malformed request or an unknown task / bad policy layout; per-episode
  // failures (e.g. non-finite parameters) become error outcomes as they would on a worker.
  absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                    const CancelFlag* cancel) override;

 private:
  const int threads_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SCHEDULER_LOCAL_EVALUATOR_H_
