// Deterministic evaluation of one policy on one environment: the episode loop shared by workers
// (real environments) and tests, and the packed transition format sent to the coordinator.
#ifndef GDAQD_COMMON_ROLLOUT_H_
#define GDAQD_COMMON_ROLLOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/mlp_policy.h"
#include "common/task.h"

namespace gdaqd::common {

// Floats per packed transition row. A row is, in this order, all float32:
//   obs        [obs_dim]     observation before the step
//   action     [action_dim]  raw policy output (before the task's clipping/scaling)
//   reward     [1]           reward of the step (without reward_offset)
//   next_obs   [obs_dim]     observation after the step
//   done       [1]           1 if the task terminated the episode at this step, else 0
//   truncated  [1]           1 if the episode hit episode_length at this step without
//                            terminating, else 0
// i.e. 2 * obs_dim + action_dim + 3 floats.
int TransitionRowSize(int obs_dim, int action_dim);

// Outcome of one episode. Reused across calls: RunEpisode() resets every field but keeps the
// vectors' capacity.
struct EpisodeResult {
  // Sum of the rewards of the counted steps (accumulated in double, then rounded to float).
  float fitness = 0;
  // env.Descriptor() after the last counted step (after Reset() if none), [descriptor_dim].
  std::vector<float> descriptor;
  // Counted steps: the episode stops after the first terminated step or after episode_length
  // steps. A diverging step is not counted (see `diverged`).
  int length = 0;
  // The last counted step reported terminated: the task ended the episode (possibly at its
  // episode_length-th step, which then is not marked truncated).
  bool terminated = false;
  // The episode stopped at a step that reported diverged, or whose action, reward or next
  // observation was not finite. That step is excluded from everything above and from
  // `transitions`, so fitness, descriptor and transitions describe the finite prefix of the
  // episode and are always finite. Consumers should still discard diverged results.
  bool diverged = false;
  // length rows of TransitionRowSize() floats, only if recording was requested, else empty.
  std::vector<float> transitions;
};

// Returns InvalidArgument unless the policy maps the task's observations to its actions
// ("policy obs_dim is 3, task point_maze has 2"). Call before RunEpisode() on external input.
absl::Status CheckPolicyMatchesTask(const MlpLayout& layout, const TaskSpec& spec);

// Runs one deterministic episode: env.Reset(seed), then up to spec().episode_length steps of
// policy.Act() + env.Step(), and writes the outcome to `*result` (must not be null). Same env
// state machine, policy parameters and seed give a bit-identical result. Once `result` has been
// used for an episode at least as long, the call allocates nothing (dimensions up to 128 floats
// of obs/action scratch live on the stack).
// Precondition (CHECKed): CheckPolicyMatchesTask(policy.layout(), env.spec()) is OK.
void RunEpisode(Environment& env, MlpPolicy& policy, uint64_t seed, bool record_transitions,
                EpisodeResult* result);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_ROLLOUT_H_
