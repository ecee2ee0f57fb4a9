#include "server/scheduler/result_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/float_scan.h"
#include "common/rollout.h"

namespace gdaqd::server {
namespace {

ResultVerdict Reject(ResultCheck check, std::string message) {
  return ResultVerdict{check, std::move(message)};
}

// Allowed excess beyond `bound` for a value checked with relative tolerance `tolerance`.
double Slack(double bound, double tolerance) { return tolerance * std::max(1.0, std::abs(bound)); }

// Length checks: [min_length, episode_length], with no upper bound when episode_length is 0.
ResultVerdict CheckLength(const ResultLimits& limits, int32_t length, int32_t min_length) {
  if (length < min_length || (limits.episode_length > 0 && length > limits.episode_length)) {
    return Reject(ResultCheck::kBadLength,
                  absl::StrCat("length ", length, " is outside [", min_length, ", ",
                               limits.episode_length > 0 ? absl::StrCat(limits.episode_length)
                                                         : std::string("unbounded"),
                               "]"));
  }
  return {};
}

ResultVerdict CheckDescriptorInBox(const ResultLimits& limits,
                                   const gdaqd::v1::EpisodeResult& result) {
  // Limits with a box of another size than the descriptor (never from a validated EvalRequest)
  // check the dimensions both have.
  const int dims =
      static_cast<int>(std::min({static_cast<size_t>(result.behavior_descriptor_size()),
                                 limits.descriptor_low.size(), limits.descriptor_high.size()}));
  for (int d = 0; d < dims; ++d) {
    const double value = result.behavior_descriptor(d);
    const double low = limits.descriptor_low[d], high = limits.descriptor_high[d];
    if (value < low - Slack(low, kDescriptorBoxTolerance) ||
        value > high + Slack(high, kDescriptorBoxTolerance)) {
      return Reject(ResultCheck::kDescriptorOutOfBox,
                    absl::StrCat("descriptor[", d, "] = ", value, " is outside the task's box [",
                                 low, ", ", high, "]"));
    }
  }
  return {};
}

ResultVerdict CheckFitness(const ResultLimits& limits, const gdaqd::v1::EpisodeResult& result) {
  const double fitness = result.fitness();
  const double length = result.length();
  if (std::isfinite(limits.min_step_reward)) {
    const double low = length * limits.min_step_reward;
    if (fitness < low - Slack(low, kFitnessTolerance)) {
      return Reject(ResultCheck::kFitnessOutOfBounds,
                    absl::StrCat("fitness ", fitness, " is below ", low, " = length ", length,
                                 " x min step reward ", limits.min_step_reward));
    }
  }
  if (std::isfinite(limits.max_step_reward)) {
    const double high = length * limits.max_step_reward;
    if (fitness > high + Slack(high, kFitnessTolerance)) {
      return Reject(ResultCheck::kFitnessOutOfBounds,
                    absl::StrCat("fitness ", fitness, " is above ", high, " = length ", length,
                                 " x max step reward ", limits.max_step_reward));
    }
  }
  return {};
}

ResultVerdict CheckTransitions(const ResultLimits& limits, int32_t length,
                               absl::Span<const float> transitions) {
  if (!limits.record_transitions) {
    if (transitions.empty()) return {};
    return Reject(ResultCheck::kBadTransitions,
                  absl::StrCat(transitions.size(), " transition floats sent, none requested"));
  }
  if (limits.transition_row_floats > 0) {
    const int64_t expected = static_cast<int64_t>(length) * limits.transition_row_floats;
    if (static_cast<int64_t>(transitions.size()) != expected) {
      return Reject(
          ResultCheck::kBadTransitions,
          absl::StrCat(transitions.size(), " transition floats, expected ", expected, " = length ",
                       length, " x ", limits.transition_row_floats, " per row"));
    }
  }
  const size_t at = common::FirstAboveMagnitude(transitions, kMaxTransitionMagnitude);
  if (at == transitions.size()) return {};
  const float* bad = &transitions[at];
  if (!std::isfinite(*bad)) {
    return Reject(ResultCheck::kNonFinite, absl::StrCat("transition value ", at, " is ", *bad));
  }
  return Reject(ResultCheck::kBadTransitions,
                absl::StrCat("transition value ", at, " = ", *bad,
                             " exceeds |v| <= ", kMaxTransitionMagnitude));
}

}  // namespace

absl::string_view ResultCheckName(ResultCheck check) {
  switch (check) {
    case ResultCheck::kAccepted:
      return "accepted";
    case ResultCheck::kWorkerError:
      return "worker_error";
    case ResultCheck::kWrongDescriptorSize:
      return "wrong_descriptor_size";
    case ResultCheck::kNonFinite:
      return "non_finite";
    case ResultCheck::kDescriptorOutOfBox:
      return "descriptor_out_of_box";
    case ResultCheck::kFitnessOutOfBounds:
      return "fitness_out_of_bounds";
    case ResultCheck::kBadLength:
      return "bad_length";
    case ResultCheck::kBadTransitions:
      return "bad_transitions";
    case ResultCheck::kChunkOrder:
      return "chunk_order";
    case ResultCheck::kBadIndex:
      return "bad_index";
    case ResultCheck::kTooManyBytes:
      return "too_many_bytes";
  }
  return "unknown";
}

ResultLimits ResultLimitsFor(const EvalRequest& request) {
  ResultLimits limits;
  limits.descriptor_dim = request.descriptor_dim;
  limits.descriptor_low = request.descriptor_low;
  limits.descriptor_high = request.descriptor_high;
  limits.episode_length = request.episode_length;
  limits.min_step_reward = request.min_step_reward;
  limits.max_step_reward = request.max_step_reward;
  limits.record_transitions = request.record_transitions;
  limits.transition_row_floats = request.transition_row_floats;
  return limits;
}

void ApplyTaskLimits(const common::TaskSpec& spec, EvalRequest* request) {
  request->episode_length = spec.episode_length;
  request->descriptor_low = spec.descriptor_low;
  request->descriptor_high = spec.descriptor_high;
  request->min_step_reward = spec.min_step_reward;
  request->max_step_reward = spec.max_step_reward;
  request->transition_row_floats = common::TransitionRowSize(spec.obs_dim, spec.action_dim);
}

int64_t MaxEpisodeTransitionBytes(const ResultLimits& limits) {
  if (!limits.record_transitions) return 0;
  if (limits.episode_length <= 0 || limits.transition_row_floats <= 0) return -1;
  // Both factors are below 2^31, so the first product fits; the byte count saturates.
  const int64_t floats = static_cast<int64_t>(limits.episode_length) * limits.transition_row_floats;
  constexpr int64_t kMaxFloats = std::numeric_limits<int64_t>::max() / sizeof(float);
  return floats > kMaxFloats ? std::numeric_limits<int64_t>::max()
                             : floats * static_cast<int64_t>(sizeof(float));
}

ResultVerdict CheckResultEcho(const gdaqd::v1::EpisodeResult& result, uint64_t actor_version,
                              std::optional<int> skill) {
  if (result.actor_version() != actor_version) {
    return Reject(ResultCheck::kBadIndex,
                  absl::StrCat("result echoes actor_version ", result.actor_version(),
                               ", the episode ran version ", actor_version));
  }
  const std::optional<int> echoed =
      result.has_skill() ? std::optional<int>(result.skill()) : std::nullopt;
  if (echoed != skill) {
    return Reject(ResultCheck::kBadIndex,
                  absl::StrCat("result echoes ",
                               echoed.has_value() ? absl::StrCat("skill ", *echoed) : "no skill",
                               ", the episode has ",
                               skill.has_value() ? absl::StrCat("skill ", *skill) : "no skill"));
  }
  return {};
}

ResultVerdict ValidateEpisodeResult(const ResultLimits& limits,
                                    const gdaqd::v1::EpisodeResult& result,
                                    absl::Span<const float> transitions) {
  if (!result.error().empty()) {
    // Bounded: the worker truncates its message to 1 KiB, a forged one is cut here.
    return Reject(ResultCheck::kWorkerError, result.error().substr(0, 1024));
  }
  if (result.behavior_descriptor_size() != limits.descriptor_dim) {
    return Reject(ResultCheck::kWrongDescriptorSize,
                  absl::StrCat("descriptor has ", result.behavior_descriptor_size(),
                               " values, task has ", limits.descriptor_dim));
  }
  // A diverged episode is never inserted and its transitions are never used; only its shape is
  // checked (its fitness and descriptor may be non-finite, and it may have no counted step).
  if (result.diverged()) return CheckLength(limits, result.length(), 0);

  if (!std::isfinite(result.fitness())) {
    return Reject(ResultCheck::kNonFinite,
                  absl::StrCat("fitness is ", result.fitness(), " on an episode not diverged"));
  }
  for (int d = 0; d < result.behavior_descriptor_size(); ++d) {
    if (!std::isfinite(result.behavior_descriptor(d))) {
      return Reject(ResultCheck::kNonFinite,
                    absl::StrCat("descriptor[", d, "] is ", result.behavior_descriptor(d),
                                 " on an episode not diverged"));
    }
  }
  if (ResultVerdict v = CheckLength(limits, result.length(), 1); !v.accepted()) return v;
  if (ResultVerdict v = CheckDescriptorInBox(limits, result); !v.accepted()) return v;
  if (ResultVerdict v = CheckFitness(limits, result); !v.accepted()) return v;
  return CheckTransitions(limits, result.length(), transitions);
}

}  // namespace gdaqd::server
