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

// SplitMix64's output function (Steele, Lea, Flood 2014).
uint64_t SplitMix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Writes this step's action: the deterministic one, or with the episode's exploration noise
// (EpisodeOptions). `noise` is scratch [action_dim].
void ChooseAction(MlpPolicy& policy, const EpisodeOptions& options, int step,
                  absl::Span<const float> obs, absl::Span<float> noise, absl::Span<float> action) {
  if (!options.noise_seed.has_value()) {
    policy.Act(obs, action);
    return;
  }
  for (size_t j = 0; j < noise.size(); ++j) {
    noise[j] = EpisodeNoise(*options.noise_seed, step, static_cast<int>(j));
  }
  if (policy.layout().kind == PolicyKind::kTanhGaussian) {
    policy.Sample(obs, noise, action);
    return;
  }
  policy.Act(obs, action);
  for (size_t j = 0; j < action.size(); ++j) {
    // A non-finite network output stays non-finite (std::clamp would hide a NaN), so the
    // divergence check still sees it.
    const float noisy = action[j] + options.exploration_std * noise[j];
    action[j] = std::isfinite(noisy)
                    ? std::clamp(noisy, -kExplorationActionBound, kExplorationActionBound)
                    : noisy;
  }
}

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

// Clears every field of `result` for a new episode of `spec`, keeping its capacity.
void ResetResult(const TaskSpec& spec, bool record_transitions, EpisodeResult* result) {
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
}

}  // namespace

int TransitionRowSize(int obs_dim, int action_dim) { return 2 * obs_dim + action_dim + 3; }

absl::Status CheckEpisodeOptions(const MlpLayout& layout, const EpisodeOptions& options) {
  if (layout.num_skills > 0 && !options.skill.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("skill is required for a policy with ", layout.num_skills, " skills"));
  }
  if (layout.num_skills == 0 && options.skill.has_value()) {
    return absl::InvalidArgumentError("skill is set but the policy is not skill-conditioned");
  }
  if (options.skill.has_value() && (*options.skill < 0 || *options.skill >= layout.num_skills)) {
    return absl::InvalidArgumentError(
        absl::StrCat("skill is ", *options.skill, ", policy has ", layout.num_skills, " skills"));
  }
  const float exploration_std = options.exploration_std;
  if (layout.kind == PolicyKind::kTanhGaussian) {
    if (exploration_std != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("exploration_std is ", exploration_std,
                       ", must be 0 for a tanh-Gaussian policy (it samples)"));
    }
    return absl::OkStatus();
  }
  if (!options.noise_seed.has_value()) {
    if (exploration_std != 0) {
      return absl::InvalidArgumentError(absl::StrCat("exploration_std is ", exploration_std,
                                                     " but the episode has no noise_seed"));
    }
    return absl::OkStatus();
  }
  if (!(exploration_std > 0 && exploration_std <= kMaxExplorationStd)) {  // NaN fails too
    return absl::InvalidArgumentError(
        absl::StrCat("exploration_std is ", exploration_std, ", must be in (0, ",
                     kMaxExplorationStd, "] for a deterministic policy with a noise_seed"));
  }
  return absl::OkStatus();
}

float EpisodeNoise(uint64_t noise_seed, int64_t step, int component) {
  constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  const uint64_t base = SplitMix64(noise_seed);
  const uint64_t counter = (static_cast<uint64_t>(step) << 20) + static_cast<uint64_t>(component);
  const uint64_t bits1 = SplitMix64(base + (2 * counter + 1) * kGolden);
  const uint64_t bits2 = SplitMix64(base + (2 * counter + 2) * kGolden);
  const double u1 = static_cast<double>((bits1 >> 11) + 1) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(bits2 >> 11) * 0x1.0p-53;        // [0, 1)
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
}

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
  RunEpisode(env, policy, EpisodeOptions(), seed, record_transitions, result);
}

void RunEpisode(Environment& env, MlpPolicy& policy, const EpisodeOptions& options, uint64_t seed,
                bool record_transitions, EpisodeResult* result) {
  CHECK(result != nullptr);
  const TaskSpec& spec = env.spec();
  const absl::Status matches = CheckPolicyMatchesTask(policy.layout(), spec);
  CHECK(matches.ok()) << matches;
  const absl::Status valid_options = CheckEpisodeOptions(policy.layout(), options);
  CHECK(valid_options.ok()) << valid_options;
  if (options.skill.has_value()) CHECK(policy.SetSkill(*options.skill).ok());

  ResetResult(spec, record_transitions, result);

  // Scratch: obs [obs_dim] | action [action_dim] | next_obs [obs_dim] | noise [action_dim] |
  // descriptor.
  const size_t obs_dim = spec.obs_dim;
  const size_t action_dim = spec.action_dim;
  absl::InlinedVector<float, kInlineScratch> scratch(2 * obs_dim + 2 * action_dim +
                                                     spec.descriptor_dim);
  const absl::Span<float> all = absl::MakeSpan(scratch);
  const absl::Span<float> obs = all.subspan(0, obs_dim);
  const absl::Span<float> action = all.subspan(obs_dim, action_dim);
  const absl::Span<float> next_obs = all.subspan(obs_dim + action_dim, obs_dim);
  const absl::Span<float> noise = all.subspan(2 * obs_dim + action_dim, action_dim);
  const absl::Span<float> descriptor = all.subspan(2 * obs_dim + 2 * action_dim);

  env.Reset(seed, obs);
  env.Descriptor(absl::MakeSpan(result->descriptor));
  double fitness = 0;  // double so long episodes lose no precision; still deterministic
  for (int t = 0; t < spec.episode_length; ++t) {
    ChooseAction(policy, options, t, obs, noise, action);
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
