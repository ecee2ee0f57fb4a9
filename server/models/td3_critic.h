// TD3 twin critic, greedy actor and policy-gradient variation of PGA-MAP-Elites (Nilsson & Cully
// 2021), following QDax HEAD's PGAMEConfig / QualityPGEmitter (research/algorithms.md §2).
#ifndef GDAQD_SERVER_MODELS_TD3_CRITIC_H_
#define GDAQD_SERVER_MODELS_TD3_CRITIC_H_

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/config/algorithms/pga_defaults.h"
#include "server/models/batched_policy.h"
#include "server/models/errors.h"
#include "server/models/transition_rows.h"

namespace gdaqd::server::models {

// Defaults are QDax's PGAMEConfig (identical in v0.1.0 and HEAD; policy_delay from HEAD),
// research/algorithms.md §2.1. The values a config sets (pga.*) come from the config layer's
// constants (common/config/algorithms/pga_defaults.h), so a default lives in one place.
struct Td3Config {
  // Each of the twin critics: obs++act -> (256, 256) -> 1.
  std::vector<int> critic_hidden = {common::kDefaultPgaCriticHiddenSize,
                                    common::kDefaultPgaCriticHiddenSize};
  double critic_lr = common::kDefaultPgaCriticLr;  // Adam, twin critics (3e-4)
  double actor_lr = common::kDefaultPgaActorLr;    // Adam, greedy actor ("greedy_learning_rate")
  double policy_lr =
      common::kDefaultPgaPolicyLr;  // Adam, policy-gradient children (fresh per call)
  int critic_steps = common::kDefaultPgaCriticSteps;     // critic updates per Train() call (300)
  int pg_steps = common::kDefaultPgaPgSteps;             // gradient steps per PG child (100)
  int batch_size = common::kDefaultPgaCriticBatchSize;   // transitions per minibatch (256)
  double discount = common::kDefaultPgaDiscount;         // 0.99
  double tau = common::kDefaultPgaTau;                   // soft target update rate (0.005)
  double policy_noise = common::kDefaultPgaPolicyNoise;  // std of the target smoothing noise
  // The smoothing noise is clipped to [-noise_clip, noise_clip].
  double noise_clip = common::kDefaultPgaNoiseClip;
  // Actor update when (critic step counter % policy_delay) == 0.
  int policy_delay = common::kDefaultPgaPolicyDelay;
  double reward_scaling = 1.0;
  std::string device = common::kDefaultPgaDevice;  // auto | cpu | cuda (SelectDevice)
  uint64_t seed = 0;                               // critic initialisation and target-noise stream

  // InvalidArgument naming the field if a value is out of range.
  absl::Status Validate() const;
};

// Fills `rows` with n transition rows sampled from the replay buffer, row-major, each of
// 2 * obs_dim + action_dim + 3 float32 in the order of common/rollout.h:
// [obs, action, reward, next_obs, done, truncated]. Uniform with replacement (QDax).
using SampleFn = std::function<void(int64_t n, std::vector<float>* rows)>;

// What one Train() call did. Losses are the values before each step's update.
struct TrainReport {
  int64_t critic_steps = 0;     // critic updates in this call
  int64_t actor_steps = 0;      // greedy actor updates in this call
  double mean_critic_loss = 0;  // mean over this call's critic steps (0 if none)
  double last_critic_loss = 0;  // loss of the last critic step (0 if none)
  double mean_actor_loss = 0;   // mean of -mean Q1(s, pi(s)) over the actor steps (0 if none)
};

// TD3 learner of PGA-ME: twin critics Q1, Q2 (MLP obs ++ action -> critic_hidden -> 1, ReLU,
// lecun_uniform kernels, zero biases), their targets, the greedy actor (a policy of
// `policy_shape`) and its target, and their Adam optimisers (torch defaults = optax defaults:
// betas 0.9/0.999, eps 1e-8).
//
// The twin critics are one BatchedPolicies with P = 2 (identity output), so both run in one batched
// matmul per layer; the greedy actor is a BatchedPolicies with P = 1.
//
// Ownership: owns all networks and optimiser states; the replay buffer stays outside (SampleFn).
// Thread-compatible; in practice single-thread: the trainer thread owns it (STYLE.md §8).
class Td3 {
 public:
  // Builds the learner with the greedy actor (and its target) set to `initial_actor_params`
  // (QDax: the first genotype of the initial population) and randomly initialised critics (the
  // targets are copies). InvalidArgument for a bad config/shape or a parameter vector of the wrong
  // size; FailedPrecondition if device "cuda" has no GPU; Internal for LibTorch failures.
  static absl::StatusOr<std::unique_ptr<Td3>> Create(const Td3Config& config,
                                                     const PolicyShape& policy_shape,
                                                     absl::Span<const float> initial_actor_params);

  // Runs config.critic_steps TD3 steps. Each step, on its own minibatch of batch_size rows:
  //   y = r * reward_scaling + (1 - done) * discount * min(Q1', Q2')(s', a'),
  //   a' = clip(pi'(s') + clip(N(0, policy_noise), -noise_clip, noise_clip), -1, 1);
  //   loss = sum over the two critics of mean_batch(((Q_i(s, a) - y) * (1 - truncated))^2)
  //   (QDax HEAD; no 0.5 factor); Adam step; critic targets <- tau * critic + (1 - tau) * target.
  //   Then, if the persistent step counter % policy_delay == 0 (QDax: counter starts at 0, so
  //   the first ever step updates the actor), one actor step on -mean Q1(s, pi(s)) over the same
  //   minibatch with the just-updated critic, then the actor target soft update.
  // All critic_steps * batch_size rows are requested in ONE sample_fn call and split into
  // minibatches (equivalent for i.i.d. sampling; one host-to-device copy).
  // `interrupt` (may be null) is polled before every step: once set, Train() returns
  // Cancelled("TD3 training interrupted") within one step, leaving the networks and optimisers
  // part-way through the call (discard the learner).
  // InvalidArgument if sample_fn returns the wrong number of floats (values are not checked);
  // Internal "critic loss became non-finite (nan) in critic steps a-b" (or "actor loss ...") if
  // the summed loss of the call is NaN or infinite: the networks are then unusable (extreme
  // transitions, e.g. rewards near FLT_MAX, overflow the squared TD error); Internal for LibTorch
  // failures; ResourceExhausted if an allocation fails. critic_steps == 0 returns an empty
  // report without sampling.
  absl::StatusOr<TrainReport> Train(const SampleFn& sample_fn,
                                    const InterruptFlag* interrupt = nullptr);

  // Policy-gradient variation (QDax HEAD QualityPGEmitter): every child starts from its parent
  // with a FRESH Adam (lr policy_lr) and takes pg_steps steps on -mean_batch Q1(s, pi_child(s))
  // against the current critic, which stays frozen. One minibatch per step is shared by all
  // children; the pg_steps * batch_size rows come from one sample_fn call. The children are
  // optimised together as stacked tensors (see BatchedPolicies for why that is exact).
  // `parents` is [P, num_params] row-major; returns the children in the same layout.
  // Does not change the critics, the actor or any optimiser state.
  // `interrupt` (may be null) is polled before every step; once set, the call returns
  // Cancelled("policy-gradient variation interrupted") within one step.
  // InvalidArgument if parents is empty or not a multiple of num_params, or sample_fn returns
  // the wrong number of floats; Internal "policy-gradient loss became non-finite ..." if the
  // children's summed loss is NaN or infinite; Internal for LibTorch failures;
  // ResourceExhausted if an allocation fails.
  absl::StatusOr<std::vector<float>> PolicyGradientChildren(
      const std::vector<float>& parents, const SampleFn& sample_fn,
      const InterruptFlag* interrupt = nullptr);

  // The greedy actor's flat parameters [num_params] (injected into each PGA-ME batch).
  absl::StatusOr<std::vector<float>> greedy_actor_params() const;

  // Q-values of both critics for n pairs: obs [n, obs_dim], actions [n, action_dim], row-major.
  // Returns [2, n] row-major (Q1 then Q2). InvalidArgument on size mismatch.
  absl::StatusOr<std::vector<float>> QValues(absl::Span<const float> obs,
                                             absl::Span<const float> actions) const;

  // The critic loss (formula in Train()) of `rows` (n whole transition rows) under the current
  // networks, with `noise` [n, action_dim] as the unclipped N(0, 1) draws of the target policy
  // smoothing (scaled by policy_noise, then clipped). Nothing is updated. For tests and
  // diagnostics; Train() uses the same code. InvalidArgument on size mismatch.
  absl::StatusOr<double> CriticLoss(absl::Span<const float> rows,
                                    absl::Span<const float> noise) const;

  // Serialises the critics, targets, actor, actor target, both Adam states, the step counters
  // and the noise generator state (torch::save format). Internal on LibTorch failure.
  absl::StatusOr<std::string> Save() const;
  // Restores a Save() blob into this learner (tensors are mapped to this learner's device).
  // InvalidArgument if the blob is unreadable or its network shapes differ from this learner's
  // (then nothing is changed); Internal if a later part (optimiser state) fails, after which the
  // learner may be partially overwritten.
  absl::Status Load(const std::string& bytes);

  // Total critic / actor updates since construction (persist through Save/Load).
  int64_t critic_step_count() const { return critic_step_count_; }
  int64_t actor_step_count() const { return actor_step_count_; }
  const Td3Config& config() const { return config_; }
  const PolicyShape& policy_shape() const { return policy_shape_; }
  const PolicyShape& critic_shape() const { return critic_shape_; }
  torch::Device device() const { return device_; }
  // Floats per transition row: 2 * obs_dim + action_dim + 3.
  int64_t row_size() const;

  // The networks, for tests and diagnostics. Twin critics: P = 2 (member 0 is Q1). Writing into
  // them (under torch::NoGradGuard, in place) is allowed between calls.
  BatchedPolicies& mutable_critic() { return critic_; }
  BatchedPolicies& mutable_target_critic() { return target_critic_; }
  const BatchedPolicies& critic() const { return critic_; }
  const BatchedPolicies& target_critic() const { return target_critic_; }
  const BatchedPolicies& actor() const { return actor_; }
  const BatchedPolicies& target_actor() const { return target_actor_; }

 private:
  // A minibatch on the device; every field [B, width].
  using Batch = TransitionColumns;

  Td3(const Td3Config& config, const PolicyShape& policy_shape, PolicyShape critic_shape,
      torch::Device device, at::Generator generator, BatchedPolicies critic,
      BatchedPolicies target_critic, BatchedPolicies actor, BatchedPolicies target_actor);

  // Calls sample_fn for n rows and copies them to the device as [n, row_size].
  // InvalidArgument if sample_fn returned the wrong number of floats.
  absl::StatusOr<torch::Tensor> SampleRows(const SampleFn& sample_fn, int64_t n) const;
  // Splits rows [n, row_size] into a Batch of views.
  Batch SplitRows(const torch::Tensor& rows) const;
  // Critic loss (scalar tensor, differentiable w.r.t. critic_) for unit noise [B, action_dim].
  torch::Tensor CriticLossOrThrow(const Batch& batch, const torch::Tensor& unit_noise) const;
  // Sum over policies p of -mean_batch Q1(obs, policies_p(obs)); the critic is detached, so only
  // the policies receive gradients. obs: [B, obs_dim], shared by all policies.
  torch::Tensor PolicyLossOrThrow(const BatchedPolicies& policies, const torch::Tensor& obs) const;

  Td3Config config_;
  PolicyShape policy_shape_;
  PolicyShape critic_shape_;  // obs_dim + action_dim -> critic_hidden -> 1, relu, identity
  torch::Device device_;
  at::Generator generator_;        // CPU generator for the target-noise draws (seeded from config)
  BatchedPolicies critic_;         // P = 2, requires grad
  BatchedPolicies target_critic_;  // P = 2
  BatchedPolicies actor_;          // P = 1, requires grad
  BatchedPolicies target_actor_;   // P = 1
  std::unique_ptr<torch::optim::Adam> critic_optimizer_;  // over critic_.parameters()
  std::unique_ptr<torch::optim::Adam> actor_optimizer_;   // over actor_.parameters()
  int64_t critic_step_count_ = 0;
  int64_t actor_step_count_ = 0;
};

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_TD3_CRITIC_H_
