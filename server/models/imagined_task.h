// The task side of imagined rollouts: per-step reward, termination and descriptor computed from
// observations alone. Torch-free, so task adapters outside server/models compile quickly.
#ifndef GDAQD_SERVER_MODELS_IMAGINED_TASK_H_
#define GDAQD_SERVER_MODELS_IMAGINED_TASK_H_

#include <cstdint>

#include "absl/types/span.h"

namespace gdaqd::server::models {

// The task's per-step functions on observations (what the worker's Environment computes from the
// simulator state), batched over B rollouts. Implementations must be thread-compatible (const).
class ImaginedTask {
 public:
  virtual ~ImaginedTask() = default;
  virtual int descriptor_dim() const = 0;
  // For each b: reward[b] of the step obs[b] --actions[b]--> next_obs[b], and whether next_obs[b]
  // ends the episode. obs/next_obs [B, obs_dim], actions [B, action_dim] (raw policy outputs),
  // row-major; reward, terminated [B].
  virtual void Step(absl::Span<const float> obs, absl::Span<const float> actions,
                    absl::Span<const float> next_obs, absl::Span<float> reward,
                    absl::Span<uint8_t> terminated) const = 0;
  // The descriptors [B, descriptor_dim] of final observations [B, obs_dim], clipped to the box.
  virtual void Descriptor(absl::Span<const float> obs, absl::Span<float> out) const = 0;
};

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_IMAGINED_TASK_H_
