// The diversity half of the SAC-based skill learners: DIAYN's skill discriminator q_phi(z | x, y)
// over the x-y state descriptor, its intrinsic reward, and SMERL's gated reward shaping, following
// QDax's baselines (research/baselines.md §2.7 DIAYN: qdax/baselines/diayn.py, diayn_loss.py,
// diayn_networks.py; §2.8 SMERL: qdax/baselines/diayn_smerl.py).
//
// A separate class that Sac (sac.h) owns rather than more members of Sac: the discriminator has its
// own network, optimiser and checkpoint entries, and none of it exists for plain SAC, so SAC's
// update stays readable and this part is tested on its own (a known discriminator's reward).
#ifndef GDAQD_SERVER_MODELS_SAC_DIVERSITY_H_
#define GDAQD_SERVER_MODELS_SAC_DIVERSITY_H_

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/models/batched_policy.h"

namespace gdaqd::server::models {

// Width of the state descriptor the discriminator sees: the x-y position (the "x-y prior" of the
// paper §4.1; QDax descriptor_full_state = False).
inline constexpr int kSkillDescriptorDim = 2;

// Which reward the SAC learner trains on (research/baselines.md §2.6-2.8).
enum class DiversityMode {
  kNone,   // SAC: the task reward.
  kDiayn,  // DIAYN: the intrinsic reward r_z only (the task reward is ignored).
  kSmerl,  // SMERL: r_task + 1[R(tau) >= target - margin] * scale * r_z.
};

// "none", "diayn" or "smerl".
const char* DiversityModeName(DiversityMode mode);

// Settings of the diversity part; Sac's config carries one (defaults: QDax DiaynConfig /
// DiaynSmerlConfig, research/baselines.md §2.7-2.8).
struct DiversityConfig {
  DiversityMode mode = DiversityMode::kNone;
  std::vector<int> discriminator_hidden = {256, 256};  // QDax: the SAC hidden sizes; ReLU
  double discriminator_lr = 3e-4;                      // Adam; QDax: the SAC learning rate
  double diversity_reward_scale = 1.0;                 // SMERL lambda_div (unused by DIAYN)
  double smerl_target = 1e3;                           // SMERL target (~ the optimal return)
  double smerl_margin = 1e2;                           // SMERL epsilon: gate at target - margin
};

// DIAYN's discriminator: an MLP d [B, 2] -> discriminator_hidden (ReLU) -> K logits (linear),
// lecun_uniform kernels and zero biases (QDax diayn_networks.py), with its Adam optimiser (torch
// defaults = optax defaults).
//
// Ownership: owns the network and the optimiser state. Thread-compatible; in practice owned by the
// trainer thread together with the Sac that holds it. The *OrThrow methods throw c10::Error and
// must run inside CallTorch (torch_util.h).
class SkillDiscriminator {
 public:
  // InvalidArgument if num_skills < 1 or a hidden size < 1; Internal for LibTorch failures.
  // Draws the initial kernels from `generator` (CPU).
  static absl::StatusOr<std::unique_ptr<SkillDiscriminator>> Create(int num_skills,
                                                                    const std::vector<int>& hidden,
                                                                    double learning_rate,
                                                                    torch::Device device,
                                                                    at::Generator& generator);

  // Log-probabilities log q(z | d) of every skill: [B, K] for descriptors [B, 2].
  torch::Tensor LogProbsOrThrow(const torch::Tensor& descriptors) const;

  // DIAYN's intrinsic reward r_z = log softmax(q(d))[z] + log K = log q(z | d) - log p(z) for the
  // uniform prior p (QDax _compute_diversity_reward with add_log_p_z). descriptors [B, 2] (the
  // NEXT state's, d(s')), skills [B] int64 in [0, K). Returns [B, 1], without gradients.
  torch::Tensor IntrinsicRewardOrThrow(const torch::Tensor& descriptors,
                                       const torch::Tensor& skills) const;

  // Cross-entropy -mean_B log q(z | d), differentiable w.r.t. the discriminator. QDax trains on
  // the CURRENT state's descriptor d(s) of the same minibatch (baselines.md §2.7).
  torch::Tensor LossOrThrow(const torch::Tensor& descriptors, const torch::Tensor& skills) const;

  // One Adam step on LossOrThrow(descriptors, skills); returns the loss before the step
  // (detached scalar).
  torch::Tensor StepOrThrow(const torch::Tensor& descriptors, const torch::Tensor& skills);

  int num_skills() const { return num_skills_; }
  // P = 1 network; writing into it (under torch::NoGradGuard, in place) is allowed between calls.
  BatchedPolicies& mutable_network() { return network_; }
  const BatchedPolicies& network() const { return network_; }
  torch::optim::Adam& optimizer() { return *optimizer_; }
  const torch::optim::Adam& optimizer() const { return *optimizer_; }

 private:
  SkillDiscriminator(int num_skills, BatchedPolicies network, double learning_rate);

  int num_skills_;
  BatchedPolicies network_;                        // P = 1, 2 -> hidden -> K, requires grad
  std::unique_ptr<torch::optim::Adam> optimizer_;  // over network_.parameters()
};

// The reward the critic is trained on, [B, 1] (before SAC's reward_scaling):
//   kNone:  task_reward;
//   kDiayn: intrinsic;
//   kSmerl: task_reward + gate * diversity_reward_scale * intrinsic, with
//           gate = 1[trajectory_return >= smerl_target - smerl_margin] (QDax diayn_smerl.py; the
//           comparison is in float32, the threshold rounded to float32 first).
// All inputs [B, 1] float32; `intrinsic` and `trajectory_return` are ignored (may be undefined) for
// kNone, `trajectory_return` for kDiayn. Writes the gate [B, 1] (1 = open) into *gate when it is
// not null (all ones for kDiayn, all zeros for kNone).
torch::Tensor ShapedRewardOrThrow(const DiversityConfig& config, const torch::Tensor& task_reward,
                                  const torch::Tensor& intrinsic,
                                  const torch::Tensor& trajectory_return, torch::Tensor* gate);

// Flat [P, num_params] lecun_uniform initialisation (Flax lecun_uniform as QDax's MLPs): kernels
// U(-sqrt(3 / fan_in), +sqrt(3 / fan_in)), biases zero, drawn from `generator`; CPU float32.
// Throws c10::Error.
torch::Tensor LecunUniformFlatOrThrow(const PolicyShape& shape, int64_t num_policies,
                                      at::Generator& generator);

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_SAC_DIVERSITY_H_
