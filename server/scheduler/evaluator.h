// What an algorithm asks to have evaluated, what comes back, and the Evaluator interface with a
// remote implementation (Scheduler: gRPC workers) and a local one (in-process, tests and
// benchmarks), as sferes2's eval:: has.
#ifndef GDAQD_SERVER_SCHEDULER_EVALUATOR_H_
#define GDAQD_SERVER_SCHEDULER_EVALUATOR_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::server {

// A batch of policies to evaluate on one task. Plain data, immutable once submitted.
struct EvalRequest {
  std::string experiment_id;  // for logs and metrics
  gdaqd::v1::EnvConfig env;   // validated, defaults applied
  gdaqd::v1::PolicyConfig policy;
  bool record_transitions = false;
  int64_t num_params = 0;
  int descriptor_dim = 0;       // results with another size are rejected as malformed
  std::vector<float> params;    // [num_episodes, num_params], row-major
  std::vector<uint64_t> seeds;  // [num_episodes], seed of each episode's initial state
  int episodes_per_lease = 8;   // upper bound; message size may lower it
  absl::Duration lease_timeout = absl::Seconds(120);

  int64_t num_episodes() const { return static_cast<int64_t>(seeds.size()); }
};

// The outcome of one episode. Either `error` is empty and the other fields hold the result, or
// `error` says why the episode produced nothing usable (worker-side failure or a malformed result).
struct EvalOutcome {
  float fitness = 0;
  std::vector<float> descriptor;
  int32_t length = 0;
  bool terminated = false;
  bool diverged = false;
  std::vector<float> transitions;  // rows of common/rollout.h, only when requested
  std::string error;
};

// Set by the owner of an evaluation to stop waiting for it (experiment cancelled).
using CancelFlag = std::atomic<bool>;

// Evaluates batches of policies. Implementations are thread-safe: several experiments may
// evaluate at once.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Blocks until every episode has an outcome (outcomes in request order). Returns Cancelled if
  // `*cancel` became true first, InvalidArgument if the request is malformed.
  virtual absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                            const CancelFlag* cancel) = 0;
  // Episodes handed out again after a lost or expired lease, since start (0 for local).
  virtual int64_t requeued_episodes() const { return 0; }
};

// InvalidArgument unless params/seeds sizes agree and num_params, descriptor_dim > 0.
absl::Status ValidateEvalRequest(const EvalRequest& request);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SCHEDULER_EVALUATOR_H_
