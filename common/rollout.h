// Deterministic evaluation of one policy on one environment: the episode loop shared by workers
// (real environments) and tests, and the packed transition format sent to the coordinator.
#ifndef GDAQD_COMMON_ROLLOUT_H_
#define GDAQD_COMMON_ROLLOUT_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "common/mlp_policy.h"
#include "common/task.h"

namespace gdaqd::common {

// Floats per packed transition row. A row is, in this order, all float32:
//   obs        [obs_dim]     observation before the step (the task's: without a skill one-hot)
//   action     [action_dim]  the action sent to the task, before the task's clipping/scaling:
//                            the raw policy output, with the episode's exploration noise
//                            (EpisodeOptions) when it has any
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

// What selects an episode beyond its policy and initial-state seed: the skill a skill-conditioned
// policy sees and the exploration noise (the wire's Episode.skill, noise_seed, exploration_std).
// The default is today's deterministic episode. A plain value.
struct EpisodeOptions {
  // Required iff the layout has num_skills > 0; then in [0, num_skills).
  std::optional<int> skill = std::nullopt;
  // Unset: the deterministic action every step (MlpPolicy::Act; tanh(mu) for kTanhGaussian),
  // for evaluation episodes. Set: step t's noise for action component j is
  // EpisodeNoise(*noise_seed, t, j); kDeterministic acts clip(Act() + exploration_std * noise,
  // -kExplorationActionBound, +kExplorationActionBound) (QDax's TD3 exploration), kTanhGaussian
  // acts MlpPolicy::Sample(noise) (SAC's sampling).
  std::optional<uint64_t> noise_seed = std::nullopt;
  // kDeterministic with noise_seed: std of the action noise, in (0, kMaxExplorationStd]. Must be 0
  // otherwise.
  float exploration_std = 0;
};

// Noisy deterministic-policy actions are clipped to [-1, 1], the tanh output range and the raw
// action box every task accepts (QDax's TD3 clips to the action bounds, [-1, 1]).
inline constexpr float kExplorationActionBound = 1.0f;
inline constexpr float kMaxExplorationStd = 10.0f;

// Returns InvalidArgument naming the field unless `options` fit `layout`: "skill is required for
// a policy with 5 skills", "skill is 5, policy has 5 skills", "skill is set but the policy is not
// skill-conditioned", "exploration_std is 0.3 but the episode has no noise_seed",
// "exploration_std is 0, must be in (0, 10] for a deterministic policy with a noise_seed",
// "exploration_std must be 0 for a tanh-Gaussian policy (it samples)".
absl::Status CheckEpisodeOptions(const MlpLayout& layout, const EpisodeOptions& options);

// The episode's standard normal draw for action component `component` of step `step`: a pure
// function of its arguments (counter-based, no generator state), identical on every worker.
// With counter c = step * 2^20 + component and, in uint64 arithmetic,
// bits(i) = SplitMix64(SplitMix64(noise_seed) + (i + 1) * 0x9e3779b97f4a7c15):
// u1 = ((bits(2c) >> 11) + 1) * 2^-53 in (0, 1], u2 = (bits(2c + 1) >> 11) * 2^-53 in [0, 1),
// normal = sqrt(-2 ln u1) * cos(2 pi u2) in double, rounded to float (Box-Muller;
// docs/policy_layout.md has it in numpy). Preconditions: step >= 0, 0 <= component < 2^20.
float EpisodeNoise(uint64_t noise_seed, int64_t step, int component);

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

// The same with a skill and exploration: an episode is a pure function of (env state machine,
// policy layout and parameters, `options`, seed), so the same arguments give a bit-identical
// result on any worker (a re-queued lease included). With default `options` it is exactly the
// call above. Sets the policy's skill (MlpPolicy::SetSkill) when options.skill is set.
// Preconditions (CHECKed): CheckPolicyMatchesTask() and CheckEpisodeOptions() are OK.
void RunEpisode(Environment& env, MlpPolicy& policy, const EpisodeOptions& options, uint64_t seed,
                bool record_transitions, EpisodeResult* result);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_ROLLOUT_H_
