// Errors and interrupt polling shared by the models' long calls (training loops, policy-gradient
// variation, imagination). Torch-free, so the algorithms' torch-free code can test for them.
#ifndef GDAQD_SERVER_MODELS_ERRORS_H_
#define GDAQD_SERVER_MODELS_ERRORS_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gdaqd::server::models {

// Set by the owner of a long call (the experiment runner, on cancel or shutdown) to make it
// return early; the same type as server::CancelFlag. A null pointer means "never interrupted".
// The flag must outlive every call it is passed to.
using InterruptFlag = std::atomic<bool>;

// True if `interrupt` is set. A relaxed load (about a nanosecond), cheap enough to poll once per
// training step.
inline bool Interrupted(const InterruptFlag* interrupt) {
  return interrupt != nullptr && interrupt->load(std::memory_order_relaxed);
}

// Cancelled("<what> interrupted"): what a long call returns when it saw its interrupt flag set.
// The object it was working on may then be left half-updated (callers discard it).
absl::Status InterruptedError(absl::string_view what);

// Internal("<loss> loss became non-finite (<value>) <where>"), e.g. "critic loss became
// non-finite (nan) in critic steps 301-600". The networks it trained are then unusable.
absl::Status NonFiniteLossError(absl::string_view loss, double value, absl::string_view where);
// True for the errors NonFiniteLossError() makes (also after a caller appended context).
bool IsNonFiniteLoss(const absl::Status& status);

// ResourceExhausted("out of memory while <what>[: <detail>]"): an allocation failed (host
// std::bad_alloc, LibTorch's CPU allocator or CUDA out of memory).
absl::Status OutOfMemoryError(absl::string_view what, absl::string_view detail = "");

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_ERRORS_H_
