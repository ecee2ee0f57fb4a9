// Validation of one finished episode result from a worker against what its task allows: the
// coordinator's defence against a worker that reports descriptors outside the task's box, a
// fitness no episode can reach, an impossible length or garbage transitions (docs/durability.md
// §5). Pure functions of their arguments; thread-safe.
#ifndef GDAQD_SERVER_SCHEDULER_RESULT_VALIDATION_H_
#define GDAQD_SERVER_SCHEDULER_RESULT_VALIDATION_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/task.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Why a result was refused, or kAccepted. The values index SchedulerStats::rejected. The first
// group is decided by ValidateEpisodeResult(); the last three by the Scheduler while it collects
// chunks.
enum class ResultCheck : int {
  kAccepted = 0,
  kWorkerError,          // the worker reported that the episode could not run (`error` set)
  kWrongDescriptorSize,  // descriptor has another size than the task's
  kNonFinite,            // NaN/inf fitness, descriptor or transition value, episode not diverged
  kDescriptorOutOfBox,   // a descriptor value outside the task's box
  kFitnessOutOfBounds,   // fitness outside length x the task's per-step reward bounds
  kBadLength,            // length outside [1, episode_length] ([0, ...] when diverged)
  kBadTransitions,       // not `length` rows, |value| > kMaxTransitionMagnitude, or unrequested
  kChunkOrder,           // a chunk number out of order, or bytes that are not whole floats
  // Episode index outside the lease, or a result whose echoed actor_version or skill is not
  // its episode's (it is not this slot's result).
  kBadIndex,
  kTooManyBytes,  // transition bytes over the per-episode or per-worker cap
};
inline constexpr int kNumResultChecks = 11;

// Stable snake_case name for metrics and logs: "accepted", "worker_error",
// "wrong_descriptor_size", "non_finite", "descriptor_out_of_box", "fitness_out_of_bounds",
// "bad_length", "bad_transitions", "chunk_order", "bad_index", "too_many_bytes".
absl::string_view ResultCheckName(ResultCheck check);

// Largest magnitude a transition value may have. Observations of every task are normalised or
// physical quantities far below it (ant joint velocities stay under ~100 rad/s); values near
// float's range would overflow the critic's and the dynamics model's losses.
inline constexpr float kMaxTransitionMagnitude = 1e6f;
// Descriptors may exceed the box by this fraction of max(1, |edge|): float rounding only, since
// honest workers clip descriptors into the box with the same float bounds.
inline constexpr double kDescriptorBoxTolerance = 1e-6;
// Fitness may exceed its bounds by this fraction of max(1, |bound|): per-step float rewards are
// summed in double and rounded to float once.
inline constexpr double kFitnessTolerance = 1e-5;

// What a result is checked against. A plain value; each check is off at its field's default.
struct ResultLimits {
  int descriptor_dim = 0;  // checked always (0 accepts only an empty descriptor)
  // The task's descriptor box, [descriptor_dim] each, or both empty (no box check).
  std::vector<float> descriptor_low, descriptor_high;
  int episode_length = 0;  // upper bound of length; 0: no upper bound
  // Per-step reward bounds; fitness must be in [length * min, length * max]. Infinite: unchecked.
  double min_step_reward = -std::numeric_limits<double>::infinity();
  double max_step_reward = std::numeric_limits<double>::infinity();
  bool record_transitions = false;  // false: a result must carry no transitions
  int transition_row_floats = 0;    // floats per row; 0: the row count is unchecked
};

// The limits of `request`'s results.
ResultLimits ResultLimitsFor(const EvalRequest& request);

// Sets request's result limits (episode_length, descriptor box, step reward bounds,
// transition_row_floats) from `spec`, the task the request evaluates. Leaves descriptor_dim and
// the rest alone.
void ApplyTaskLimits(const common::TaskSpec& spec, EvalRequest* request);

// Most transition bytes an honest episode under `limits` carries: 0 when no transitions were
// requested, episode_length x row bytes otherwise, -1 (no limit) when either is unknown.
int64_t MaxEpisodeTransitionBytes(const ResultLimits& limits);

// The verdict on one result. `message` names the value and the bound it broke, e.g.
// "descriptor[0] = 1e+30 is outside the task's box [-1, 1]"; empty when accepted.
struct ResultVerdict {
  ResultCheck check = ResultCheck::kAccepted;
  std::string message;
  bool accepted() const { return check == ResultCheck::kAccepted; }
};

// Checks the final message of one episode (`result`: the one with last_chunk, which carries the
// outcome) and the episode's transitions (all chunks' floats, in order) against `limits`:
//   - `error` set: kWorkerError (the episode completes as an error, as the worker meant);
//   - descriptor size != descriptor_dim: kWrongDescriptorSize;
//   - diverged episodes (never inserted, their transitions never used) are otherwise only
//     checked for length in [0, episode_length];
//   - otherwise fitness and descriptor finite (kNonFinite), length in [1, episode_length]
//     (kBadLength), descriptor inside the box (kDescriptorOutOfBox), fitness within the
//     length's reward bounds (kFitnessOutOfBounds), and transitions: none unless requested,
//     exactly length rows when requested (kBadTransitions), every value finite (kNonFinite) with
//     |v| <= kMaxTransitionMagnitude (kBadTransitions).
// Reads `result` and `transitions` once; allocates only the message.
ResultVerdict ValidateEpisodeResult(const ResultLimits& limits,
                                    const gdaqd::v1::EpisodeResult& result,
                                    absl::Span<const float> transitions);

// kBadIndex unless `result` echoes its episode's actor version and skill (EpisodeResult fields
// actor_version and skill, set on every chunk by the worker): "result echoes actor_version 3,
// the episode ran version 4", "result echoes skill 2, the episode has skill 1" / "... no skill".
ResultVerdict CheckResultEcho(const gdaqd::v1::EpisodeResult& result, uint64_t actor_version,
                              std::optional<int> skill);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SCHEDULER_RESULT_VALIDATION_H_
