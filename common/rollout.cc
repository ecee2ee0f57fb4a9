#include "common/rollout.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/logging.h"
#include "common/mlp_policy.h"
#include "common/task.h"

namespace gdaqd::common {
namespace {

// Floats of per-episode scratch kept on the stack (obs, action, next_obs, descriptor); larger
// tasks fall back to one heap allocation per episode.
constexpr size_t kInlineScratch = 128;

bool AllFinite(absl::Span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

// Appends one packed row (layout in rollout.h) to `out`.
void AppendRow(absl::Span<const float> obs, absl::Span<const float> action, float reward,
               absl::Span<const float> next_obs, bool done, bool truncated,
               std::vector<float>* out) {
  out->insert(out->end(), obs.begin(), obs.end());
  out->insert(out->end(), action.begin(), action.end());
  out->push_back(reward);
  out->insert(out->end(), next_obs.begin(), next_obs.end());
  out->push_back(done ? 1.0f : 0.0f);
  out->push_back(truncated ? 1.0f : 0.0f);
}

}  // namespace

int TransitionRowSize(int obs_dim, int action_dim) { return 2 * obs_dim + action_dim + 3; }

absl::Status CheckPolicyMatchesTask(const MlpLayout& layout, const TaskSpec& spec) {
  if (layout.obs_dim != spec.obs_dim) {
    return absl::InvalidArgumentError(absl::StrCat("policy obs_dim is ", layout.obs_dim, ", task ",
                                                   spec.name, " has ", spec.obs_dim));
  }
  if (layout.action_dim != spec.action_dim) {
    return absl::InvalidArgumentError(absl::StrCat("policy action_dim is ", layout.action_dim,
                                                   ", task ", spec.name, " has ", spec.action_dim));
  }
  return absl::OkStatus();
}

void RunEpisode(Environment& env, MlpPolicy& policy, uint64_t seed, bool record_transitions,
                EpisodeResult* result) {
  CHECK(result != nullptr);
  const TaskSpec& spec = env.spec();
  const absl::Status matches = CheckPolicyMatchesTask(policy.layout(), spec);
  CHECK(matches.ok()) << matches;

  result->fitness = 0;
  result->descriptor.resize(spec.descriptor_dim);
  result->length = 0;
  result->terminated = false;
  result->diverged = false;
  result->transitions.clear();
  if (record_transitions) {
    // Allocates only the first time `result` records an episode this long.
    result->transitions.reserve(static_cast<size_t>(spec.episode_length) *
                                TransitionRowSize(spec.obs_dim, spec.action_dim));
  }

  // Scratch: obs [obs_dim] | action [action_dim] | next_obs [obs_dim] | descriptor.
  const size_t obs_dim = spec.obs_dim;
  const size_t action_dim = spec.action_dim;
  absl::InlinedVector<float, kInlineScratch> scratch(2 * obs_dim + action_dim +
                                                     spec.descriptor_dim);
  const absl::Span<float> all = absl::MakeSpan(scratch);
  const absl::Span<float> obs = all.subspan(0, obs_dim);
  const absl::Span<float> action = all.subspan(obs_dim, action_dim);
  const absl::Span<float> next_obs = all.subspan(obs_dim + action_dim, obs_dim);
  const absl::Span<float> descriptor = all.subspan(2 * obs_dim + action_dim);

  env.Reset(seed, obs);
  env.Descriptor(absl::MakeSpan(result->descriptor));
  double fitness = 0;  // double so long episodes lose no precision; still deterministic
  for (int t = 0; t < spec.episode_length; ++t) {
    policy.Act(obs, action);
    if (!AllFinite(action)) {
      result->diverged = true;
      break;
    }
    const StepResult step = env.Step(action, next_obs);
    // Read every step (cheap) so that a diverging step leaves the last finite descriptor in
    // `result`. Non-finite values would poison the archive and the replay buffer, so the step is
    // dropped before anything of it is committed.
    env.Descriptor(descriptor);
    if (step.diverged || !std::isfinite(step.reward) || !AllFinite(next_obs) ||
        !AllFinite(descriptor)) {
      result->diverged = true;
      break;
    }
    // The step counts: commit it.
    fitness += step.reward;
    ++result->length;
    std::copy(descriptor.begin(), descriptor.end(), result->descriptor.begin());
    if (record_transitions) {
      const bool truncated = !step.terminated && t + 1 == spec.episode_length;
      AppendRow(obs, action, step.reward, next_obs, step.terminated, truncated,
                &result->transitions);
    }
    if (step.terminated) {
      result->terminated = true;
      break;
    }
    std::copy(next_obs.begin(), next_obs.end(), obs.begin());
  }
  result->fitness = static_cast<float>(fitness);
}

}  // namespace gdaqd::common
