// libFuzzer target: worker result validation (server/scheduler/result_validation.h).
//
// The input is split into fuzz-chosen limits (descriptor size and box, episode length, reward
// bounds, transition recording and row size) and the bytes of one gdaqd.v1.EpisodeResult, as a
// worker would send it. The validator must never crash, never allocate more than the input
// warrants, and never accept what its contract refuses: an accepted, non-diverged result has a
// finite fitness and descriptor of the right size inside the box, a length in
// [1, episode_length], a fitness within length x the reward bounds, and transitions of the
// expected shape with finite values of bounded magnitude. A violation traps.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gdaqd/v1/coordinator.pb.h"
#include "server/scheduler/result_validation.h"

namespace {

using gdaqd::server::ResultLimits;
using gdaqd::server::ResultVerdict;

// Largest descriptor the fuzzer builds limits for (tasks have 2).
constexpr int kMaxDescriptorDim = 8;

ResultLimits ConsumeLimits(FuzzedDataProvider& input) {
  ResultLimits limits;
  limits.descriptor_dim = input.ConsumeIntegralInRange<int>(0, kMaxDescriptorDim);
  if (input.ConsumeBool()) {
    // Usually a box of the descriptor's size; sometimes a mismatched one (never from a
    // validated request, but the validator must not read past it).
    const int dims = input.ConsumeBool() ? limits.descriptor_dim
                                         : input.ConsumeIntegralInRange<int>(0, kMaxDescriptorDim);
    for (int d = 0; d < dims; ++d) {
      limits.descriptor_low.push_back(input.ConsumeFloatingPoint<float>());
      limits.descriptor_high.push_back(input.ConsumeFloatingPoint<float>());
    }
    if (input.ConsumeBool() && !limits.descriptor_high.empty()) limits.descriptor_high.pop_back();
  }
  limits.episode_length = input.ConsumeIntegral<int>();
  if (input.ConsumeBool()) limits.min_step_reward = input.ConsumeFloatingPoint<double>();
  if (input.ConsumeBool()) limits.max_step_reward = input.ConsumeFloatingPoint<double>();
  limits.record_transitions = input.ConsumeBool();
  limits.transition_row_floats = input.ConsumeIntegral<int>();
  return limits;
}

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// The validator's contract for an accepted result that is not diverged.
void CheckAccepted(const ResultLimits& limits, const gdaqd::v1::EpisodeResult& result,
                   const std::vector<float>& transitions) {
  Check(result.error().empty());
  Check(result.behavior_descriptor_size() == limits.descriptor_dim);
  Check(std::isfinite(result.fitness()));
  Check(result.length() >= 1);
  if (limits.episode_length > 0) Check(result.length() <= limits.episode_length);
  const size_t box = std::min(limits.descriptor_low.size(), limits.descriptor_high.size());
  for (int d = 0; d < result.behavior_descriptor_size(); ++d) {
    const double value = result.behavior_descriptor(d);
    Check(std::isfinite(value));
    if (static_cast<size_t>(d) >= box) continue;
    const double low = limits.descriptor_low[d], high = limits.descriptor_high[d];
    const double slack_low = gdaqd::server::kDescriptorBoxTolerance * std::max(1.0, std::abs(low));
    const double slack_high =
        gdaqd::server::kDescriptorBoxTolerance * std::max(1.0, std::abs(high));
    if (std::isfinite(low)) Check(value >= low - slack_low);
    if (std::isfinite(high)) Check(value <= high + slack_high);
  }
  if (std::isfinite(limits.min_step_reward)) {
    const double low = result.length() * limits.min_step_reward;
    Check(!(result.fitness() <
            low - gdaqd::server::kFitnessTolerance * std::max(1.0, std::abs(low))));
  }
  if (std::isfinite(limits.max_step_reward)) {
    const double high = result.length() * limits.max_step_reward;
    Check(!(result.fitness() >
            high + gdaqd::server::kFitnessTolerance * std::max(1.0, std::abs(high))));
  }
  if (!limits.record_transitions) {
    Check(transitions.empty());
    return;
  }
  if (limits.transition_row_floats > 0) {
    Check(static_cast<int64_t>(transitions.size()) ==
          static_cast<int64_t>(result.length()) * limits.transition_row_floats);
  }
  for (float v : transitions) Check(std::abs(v) <= gdaqd::server::kMaxTransitionMagnitude);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const ResultLimits limits = ConsumeLimits(input);
  const std::string bytes = input.ConsumeRemainingBytesAsString();
  gdaqd::v1::EpisodeResult result;
  if (!result.ParseFromString(bytes)) return 0;
  // The transitions as the scheduler stages them: whole float32 values of the bytes field (a
  // partial trailing float is refused before validation, as a chunk_order error).
  const std::string& packed = result.transitions();
  std::vector<float> transitions(packed.size() / sizeof(float));
  if (!transitions.empty()) {
    std::memcpy(transitions.data(), packed.data(), transitions.size() * sizeof(float));
  }
  const ResultVerdict verdict = gdaqd::server::ValidateEpisodeResult(limits, result, transitions);
  Check(verdict.accepted() == verdict.message.empty());
  Check(!gdaqd::server::ResultCheckName(verdict.check).empty());
  Check(verdict.message.size() <= 4096);  // messages name a value and a bound, nothing more
  const int64_t max_bytes = gdaqd::server::MaxEpisodeTransitionBytes(limits);
  Check(max_bytes >= -1);
  if (verdict.accepted() && !result.diverged()) CheckAccepted(limits, result, transitions);
  return 0;
}
