// What an algorithm asks to have evaluated, what comes back, and the Evaluator interface with a
// remote implementation (Scheduler: gRPC workers) and a local one (in-process, tests and
// benchmarks), as sferes2's eval:: has.
#ifndef GDAQD_SERVER_SCHEDULER_EVALUATOR_H_
#define GDAQD_SERVER_SCHEDULER_EVALUATOR_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/rollout.h"
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
  // What selects each episode beyond its params and seed (skill, exploration noise seed and
  // std; common/rollout.h), copied into each wire Episode: [num_episodes], or empty for every
  // episode's default (today's deterministic episode, bit for bit). A re-queued episode keeps
  // its options, so it re-runs identically.
  std::vector<common::EpisodeOptions> episode_options;
  // The version of the actor every episode of this batch runs (actor-learner methods), copied
  // into each Episode and checked on each result's echo. 0 = none.
  uint64_t actor_version = 0;
  // The scheduler section's defaults, from the one place they are set (common/config/config.h).
  // episodes_per_lease is an upper bound: the message size may lower it.
  int episodes_per_lease = common::kDefaultEpisodesPerLease;
  absl::Duration lease_timeout = absl::Seconds(common::kDefaultLeaseTimeoutS);

  // What a worker's result may contain (checked by server/scheduler/result_validation.h). Each
  // check is off while its fields keep their defaults. ApplyTaskLimits() sets them all from the
  // task's TaskSpec; Scheduler::Submit() does that itself when episode_length is 0 and
  // env.task() names a known task.
  int episode_length = 0;  // steps; a result's length must be <= this (0: unchecked)
  // Descriptor box, [descriptor_dim] each or both empty (no box check).
  std::vector<float> descriptor_low, descriptor_high;
  // Per-step reward bounds (TaskSpec::min_step_reward/max_step_reward): a result's fitness must
  // lie in [length * min_step_reward, length * max_step_reward]. Infinite: unchecked.
  double min_step_reward = -std::numeric_limits<double>::infinity();
  double max_step_reward = std::numeric_limits<double>::infinity();
  // Floats per transition row (common::TransitionRowSize()); with record_transitions a result
  // must carry exactly length rows. 0: the row count is unchecked.
  int transition_row_floats = 0;

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

// Counters of one Evaluate call, for the experiment that made it.
struct EvalCallStats {
  int64_t requeued_episodes = 0;  // this request's episodes handed out again (lost/expired lease)
};

// Evaluates batches of policies. Implementations are thread-safe: several experiments may
// evaluate at once.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Blocks until every episode has an outcome (outcomes in request order). Returns Cancelled if
  // `*cancel` became true first, InvalidArgument if the request is malformed.
  virtual absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                            const CancelFlag* cancel) = 0;
  // Evaluate(), which also writes this call's own counters to `*stats` (must not be null). The
  // default reports no re-queues, true of evaluators without leases.
  virtual absl::StatusOr<std::vector<EvalOutcome>> EvaluateWithStats(const EvalRequest& request,
                                                                     const CancelFlag* cancel,
                                                                     EvalCallStats* stats) {
    *stats = EvalCallStats();
    return Evaluate(request, cancel);
  }
  // Episodes handed out again after a lost or expired lease, since start, over every experiment
  // (0 for local). For one experiment's count use EvaluateWithStats().
  virtual int64_t requeued_episodes() const { return 0; }
};

// The options of episode `index` of `request` (the default when episode_options is empty).
inline common::EpisodeOptions EpisodeOptionsAt(const EvalRequest& request, int64_t index) {
  return request.episode_options.empty() ? common::EpisodeOptions()
                                         : request.episode_options[index];
}

// InvalidArgument unless params/seeds sizes agree, episode_options is empty or of num_episodes
// entries (each skill >= 0, exploration_std finite and >= 0), num_params, descriptor_dim > 0, and
// the result limits are consistent: episode_length and transition_row_floats >= 0, the descriptor
// box empty or of descriptor_dim values with low <= high, min_step_reward <= max_step_reward (not
// NaN).
absl::Status ValidateEvalRequest(const EvalRequest& request);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SCHEDULER_EVALUATOR_H_
