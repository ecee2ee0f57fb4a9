// Imagined evaluation (paper §3.1, Algorithm 1 line 9): P policies rolled out for T steps in a
// learned dynamics model instead of the simulator, each rollout on one ensemble member fixed for
// the episode, with fitness and descriptor computed from the predicted observations by the task's
// own per-step functions (supplied by the caller, so this file needs no simulator and no common/).
//
// Rollouts are grouped by member: every step is one policy forward over all P policies and one
// dense matmul per member and layer of the model. On a CPU model the step runs on host buffers
// allocated once per call: the policies through HostMlpForward (host_mlp.h), the model through its
// GroupedStepper (DynamicsEnsemble's fuses everything around its matmuls into one pass); on a GPU
// it runs as LibTorch ops (BatchedPolicies, PredictGrouped).
#ifndef GDAQD_SERVER_MODELS_IMAGINATION_H_
#define GDAQD_SERVER_MODELS_IMAGINATION_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/models/batched_policy.h"
#include "server/models/errors.h"
#include "server/models/imagined_task.h"

namespace gdaqd::server::models {

// One imagined model step on host memory for rollouts grouped by member, B_e rows per member fixed
// at creation, reusing its buffers from step to step. Made by GroupedDynamics::MakeHostStepper;
// must not outlive that model, and the model must not change while it exists.
// Thread-compatible: one stepper per rollout batch, Step() from one thread at a time.
class GroupedStepper {
 public:
  virtual ~GroupedStepper() = default;
  // next_obs = the model's prediction for obs --actions-->, as PredictGrouped computes it (the
  // same Gaussian draws from `generator` for the same inputs): obs [E, B_e, obs_dim], actions
  // [E, B_e, action_dim], next_obs [E, B_e, obs_dim], host row-major. InvalidArgument on sizes
  // that do not match the stepper's; PredictGrouped's errors; Internal if LibTorch fails.
  virtual absl::Status Step(absl::Span<const float> obs, absl::Span<const float> actions,
                            bool sample, c10::optional<at::Generator> generator,
                            absl::Span<float> next_obs) = 0;
};

// A dynamics model that predicts next observations for rollouts grouped by member:
// obs [E, B_e, obs_dim], actions [E, B_e, action_dim] -> next_obs [E, B_e, obs_dim] on device().
// DynamicsEnsemble is the learned one; tests plug in exact simulators.
class GroupedDynamics {
 public:
  virtual ~GroupedDynamics() = default;
  virtual int obs_dim() const = 0;
  virtual int action_dim() const = 0;
  virtual int members() const = 0;
  virtual torch::Device device() const = 0;
  // With `sample`, noise comes from `generator` (a generator of device()'s type).
  virtual absl::StatusOr<torch::Tensor> PredictGrouped(
      const torch::Tensor& obs, const torch::Tensor& actions, bool sample,
      c10::optional<at::Generator> generator) const = 0;
  // A host-memory stepper for `per_member` rows per member. This default wraps PredictGrouped
  // (copying inputs to device() and the prediction back every step); DynamicsEnsemble on the CPU
  // returns a fused one. InvalidArgument if per_member < 1.
  virtual absl::StatusOr<std::unique_ptr<GroupedStepper>> MakeHostStepper(int64_t per_member) const;
};

// Results of ImagineEpisodes, one entry per policy in input order.
struct ImaginedEpisodes {
  std::vector<float> fitness;      // [P] sum of imagined rewards up to termination
  std::vector<float> descriptors;  // [P, descriptor_dim] of the last imagined observation
  std::vector<uint8_t> diverged;   // [P] 1 if a predicted observation was not finite
  std::vector<int32_t> steps;      // [P] steps taken (episode_length unless terminated first)
};

struct ImaginationRequest {
  PolicyShape shape;                    // the policies' network
  absl::Span<const float> params;       // [P, num_params] host, row-major
  absl::Span<const int32_t> member;     // [P] ensemble member of each rollout, in [0, members)
  absl::Span<const float> initial_obs;  // [obs_dim], the task's fixed start observation
  int episode_length = 0;               // T >= 1
  bool sample = true;                   // sample the member's Gaussian, or use its mean
  bool terminate = true;                // stop a rollout at the task's terminating step
  // On a CPU model, run the step on host buffers (HostMlpForward, MakeHostStepper); false runs
  // LibTorch ops as on a GPU (tests compare the two; GPU models always use LibTorch ops).
  bool host_kernels = true;
  // Polled before every imagined step (may be null): once set, ImagineEpisodes returns
  // Cancelled("imagination interrupted") within one step. Must outlive the call.
  const InterruptFlag* interrupt = nullptr;
};

// Rolls the policies out in `model` the way common::RunEpisode does in the simulator: step t
// takes a = pi(obs_t), obs_{t+1} = model(obs_t, a); the reward and termination of the step come
// from `task`; a rollout stops after its terminating step (when request.terminate) or after
// episode_length steps, and its
// descriptor is that of its last observation. A rollout whose prediction is not finite stops and
// is flagged diverged. `generator` (on model.device()'s type) makes sampling reproducible.
// InvalidArgument on inconsistent sizes (params vs shape, member outside [0, members), obs_dim or
// action_dim different from the model's, non-finite initial_obs); Internal if LibTorch fails;
// ResourceExhausted if an allocation fails; Cancelled once request.interrupt is set.
absl::StatusOr<ImaginedEpisodes> ImagineEpisodes(const GroupedDynamics& model,
                                                 const ImaginedTask& task,
                                                 const ImaginationRequest& request,
                                                 c10::optional<at::Generator> generator);

// Multiply-add count of one imagined step of one rollout (policy forward plus one member's
// forward), x2 for FLOPs: what bench/imagination divides by to get its roofline share.
int64_t ImaginedStepFlops(const PolicyShape& policy, int obs_dim, int action_dim,
                          absl::Span<const int> model_hidden);

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_IMAGINATION_H_
