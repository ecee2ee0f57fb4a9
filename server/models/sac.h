// Soft Actor-Critic learner with automatic entropy temperature (Haarnoja et al. 2018) and its
// skill-conditioned variants DIAYN and SMERL, following QDax's baselines: research/baselines.md
// §2.6 (qdax/baselines/sac.py, losses/sac_loss.py), §2.7 (diayn.py) and §2.8 (diayn_smerl.py).
// The learner half of the actor-learner design (docs/design/rl_actor_learner.md); the workers run
// the actor it publishes as a TANH_GAUSSIAN policy (docs/policy_layout.md).
#ifndef GDAQD_SERVER_MODELS_SAC_H_
#define GDAQD_SERVER_MODELS_SAC_H_

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/models/batched_policy.h"
#include "server/models/errors.h"
#include "server/models/sac_diversity.h"
#include "server/models/td3_critic.h"  // SampleFn
#include "server/models/transition_rows.h"

namespace gdaqd::server::models {

// Defaults are QDax's SacConfig (baselines.md §2.6; batch_size is a required field there, 256 in
// its DIAYN/SMERL notebooks) and DiaynConfig / DiaynSmerlConfig (§2.7-2.8).
struct SacConfig {
  std::vector<int> policy_hidden = {256, 256};  // actor: (obs ++ onehot) -> ... -> 2|A|, ReLU
  std::vector<int> critic_hidden = {256, 256};  // each twin critic: obs ++ onehot ++ act -> 1
  double policy_lr = 3e-4;                      // Adam, actor
  double critic_lr = 3e-4;                      // Adam, twin critics
  double alpha_lr = 3e-4;                       // Adam, log alpha
  int batch_size = 256;                         // transitions per minibatch (one per step)
  double discount = 0.97;                       // gamma
  double tau = 0.005;                           // soft target update rate of the critics
  double reward_scaling = 1.0;                  // y = r * reward_scaling + ...
  double initial_alpha = 1.0;                   // alpha_0; log alpha starts at log(alpha_0)
  bool fix_alpha = false;                       // QDax fix_alpha: keep alpha_0, no alpha loss
  std::optional<double> target_entropy;         // H-bar; unset: -0.5 * action_dim (QDax)
  float min_std = 0.001f;                       // std = softplus(rho) + min_std (brax)
  int num_skills = 0;         // K; > 0 appends onehot(skill) to actor/critic inputs (DIAYN, SMERL)
  DiversityConfig diversity;  // mode and discriminator settings (sac_diversity.h)
  int steps_per_train = 1;    // updates per Train() call (TrainSteps() takes its own)
  std::string device = "auto";  // auto | cpu | cuda (SelectDevice)
  uint64_t seed = 0;            // initialisation and the sampling-noise stream

  // InvalidArgument naming the field if a value is out of range (e.g. "policy_lr must be > 0,
  // got 0"); DIAYN/SMERL need num_skills > 0.
  absl::Status Validate() const;
};

// What one Train() call did. Means are over the call's steps; each step's losses are the values
// before that step's update (0 if the call ran no step).
struct SacReport {
  int64_t steps = 0;
  double mean_critic_loss = 0;
  double mean_actor_loss = 0;
  double mean_alpha_loss = 0;  // 0 with fix_alpha
  double alpha = 0;            // alpha = exp(log alpha) after the call
  double mean_log_prob = 0;    // mean log pi(a~|s) in the actor loss; -it estimates the entropy
  // Diversity modes only (0 otherwise):
  double mean_discriminator_loss = 0;
  double mean_intrinsic_reward = 0;  // mean r_z over the sampled rows
  double gate_open_fraction = 0;     // SMERL: rows with the gate open; DIAYN: 1
};

// The losses of one minibatch under the current networks, for tests and diagnostics.
struct SacLosses {
  double alpha_loss = 0;
  double critic_loss = 0;
  double actor_loss = 0;
  double mean_log_prob = 0;          // of the actor loss's actions
  double discriminator_loss = 0;     // diversity modes only
  std::vector<float> reward;         // [n] the shaped reward before reward_scaling
  std::vector<float> intrinsic;      // [n] r_z (diversity modes; else empty)
  std::vector<float> gate;           // [n] SMERL gate (1 open); all 1 for DIAYN; else empty
  std::vector<float> target_q;       // [n] the critic target y
  std::vector<float> next_log_prob;  // [n] log pi(a'|s') inside y
};

// A SAC learner: a tanh-Gaussian actor, twin soft Q critics and their targets, the temperature
// log alpha, their Adam optimisers (torch defaults = optax defaults) and, for DIAYN/SMERL, a
// SkillDiscriminator.
//
// Actor: an MLP (obs ++ onehot(skill) if K > 0) -> policy_hidden (ReLU) -> 2|A| (identity) whose
// flat parameters are exactly the worker's TANH_GAUSSIAN layout (docs/policy_layout.md,
// common::MlpLayout with kind kTanhGaussian, num_skills K, output identity, the same min_std):
// outputs mu then rho, std = softplus(rho) + min_std, a = tanh(mu + std * eps).
// log pi(a | s) = sum_j [log N(u_j; mu_j, std_j) - log(1 - tanh(u_j)^2)] with the stable form
// log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)) (brax TanhBijector).
//
// One update (QDax sac.py `update`, diayn.py `_update_networks`), on one minibatch:
//   0. (DIAYN/SMERL) reward from the discriminator BEFORE its step, then one discriminator step;
//   1. alpha: minimise mean(alpha * stopgrad(-log pi(a~|s) - H-bar)) over log alpha;
//   2. critic: y = r * reward_scaling + (1 - done) * gamma * (min_j Q'_j(s', a') -
//      alpha log pi(a'|s')), a' ~ pi(.|s'); loss 0.5 * mean over critics and batch of
//      ((Q_j(s, a) - y)^2 * (1 - truncated)); Adam step; targets <- tau * Q + (1 - tau) * Q';
//   3. actor: mean(alpha * log pi(a~|s) - min_j Q_j(s, a~)), a~ reparameterised.
// Steps 1-3 all use the state before the update: the previous alpha, the previous actor and, for
// the actor loss, the critics before step 2 (QDax passes the old training_state to each). The
// three draws of eps (alpha, critic, actor) are independent.
//
// Ownership: owns all networks and optimiser states; the replay buffer stays outside (SampleFn).
// Thread-compatible; in practice single-thread: the trainer thread owns it (STYLE.md §8).
class Sac {
 public:
  // Row layout of SampleFn for this learner, all float32, in this order:
  //   obs        [obs_dim]     the task's observation (no skill one-hot)
  //   action     [action_dim]  the action sent to the task: tanh(mu + std * eps) in [-1, 1]
  //                            (used as is; never inverted, so saturated +-1 is fine)
  //   reward     [1]           the task reward
  //   next_obs   [obs_dim]
  //   done       [1]           1 if terminated (not bootstrapped)
  //   truncated  [1]           1 if the time limit ended the episode (TD error masked)
  // i.e. common/rollout.h's transition row, then, only when num_skills K > 0:
  //   skill              [1]  the episode's skill as a float, an integer in [0, K)
  //   descriptor         [2]  d(s): x-y state descriptor before the step (discriminator loss)
  //   next_descriptor    [2]  d(s'): after the step (intrinsic reward)
  //   trajectory_return  [1]  SMERL's R(tau): the sum of task rewards of the episode holding the
  //                           row (the partial sum while it is still running); unused otherwise
  // Width 2 * obs_dim + action_dim + 3 (+ 6 if K > 0). With k = skill_column(): skill at k,
  // descriptor at k + 1, next_descriptor at k + 3, trajectory_return at k + 5.
  static int64_t RowWidth(int obs_dim, int action_dim, int num_skills);
  int64_t row_width() const { return RowWidth(obs_dim_, action_dim_, config_.num_skills); }
  // Offset of the first skill column (2 * obs_dim + action_dim + 3); the others follow it.
  int64_t skill_column() const { return 2 * int64_t{obs_dim_} + action_dim_ + 3; }

  // The actor's shape: obs_dim + K -> policy_hidden (relu) -> 2 * action_dim (identity).
  static PolicyShape ActorShape(const SacConfig& config, int obs_dim, int action_dim);

  // Builds the learner. `initial_actor_params` in the actor's flat layout, or empty for a
  // lecun_uniform actor drawn from config.seed (then, as all networks, from LibTorch's CPU
  // generator, not common::InitLecunUniform). Critics lecun_uniform, targets copies.
  // InvalidArgument for a bad config or dims (naming the field) or a parameter vector of the wrong
  // size; FailedPrecondition if device "cuda" has no GPU; Internal for LibTorch failures.
  static absl::StatusOr<std::unique_ptr<Sac>> Create(const SacConfig& config, int obs_dim,
                                                     int action_dim,
                                                     absl::Span<const float> initial_actor_params);

  // Runs `steps` updates (above), each on its own batch_size rows; all steps * batch_size rows
  // come from ONE sample_fn call. `interrupt` (may be null) is polled before every step; once set
  // the call returns Cancelled("SAC training interrupted") within one step, leaving the learner
  // part-way (discard it). InvalidArgument if sample_fn returns the wrong number of floats, or a
  // skill column is not an integer in [0, K) ("row 3 column skill (index 9) is 7, expected an
  // integer in [0, 5)"); nothing is updated then. Internal "<name> loss became non-finite ..."
  // if a summed loss of the call is NaN/inf (the networks are then unusable); Internal for
  // LibTorch failures; ResourceExhausted if an allocation fails. steps <= 0: empty report.
  absl::StatusOr<SacReport> TrainSteps(const SampleFn& sample_fn, int64_t steps,
                                       const InterruptFlag* interrupt = nullptr);
  // TrainSteps(sample_fn, config.steps_per_train, interrupt).
  absl::StatusOr<SacReport> Train(const SampleFn& sample_fn,
                                  const InterruptFlag* interrupt = nullptr);

  // The actor's flat parameters [num_params] in the worker's TANH_GAUSSIAN layout.
  absl::StatusOr<std::vector<float>> actor_params() const;

  // The deterministic (evaluation) actions tanh(mu) [n, action_dim] for obs [n, obs_dim] and,
  // if K > 0, skills [n] (else empty). InvalidArgument on sizes or a skill out of range.
  absl::StatusOr<std::vector<float>> DeterministicActions(absl::Span<const float> obs,
                                                          absl::Span<const int> skills) const;
  // Samples a = tanh(mu + std * eps) for the given unit normals eps [n, action_dim]; fills
  // actions [n, action_dim] and log_probs [n] (log pi(a|s), Jacobian included). Same errors.
  absl::Status SampleActions(absl::Span<const float> obs, absl::Span<const int> skills,
                             absl::Span<const float> unit_noise, std::vector<float>* actions,
                             std::vector<float>* log_probs) const;

  // The losses of `rows` (n whole rows) under the current networks, with `unit_noise`
  // [3, n, action_dim] the eps of the alpha, critic (a') and actor (a~) samples. Nothing is
  // updated. TrainSteps() uses the same code. InvalidArgument on sizes or a bad skill column.
  absl::StatusOr<SacLosses> ComputeLosses(absl::Span<const float> rows,
                                          absl::Span<const float> unit_noise) const;

  // Serialises every network, log alpha, all optimiser states, the step counter and the noise
  // generator state (torch::save format). Internal on LibTorch failure.
  absl::StatusOr<std::string> Save() const;
  // Restores a Save() blob. InvalidArgument if it is unreadable or its shapes (or diversity
  // mode) differ from this learner's (then nothing is changed); Internal if a later part
  // (optimiser state) fails, after which the learner may be partially overwritten.
  absl::Status Load(const std::string& bytes);

  // Updates since construction (persist through Save/Load).
  int64_t step_count() const { return step_count_; }
  // The temperature exp(log alpha) now (initial_alpha before the first step).
  double alpha() const;
  const SacConfig& config() const { return config_; }
  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return action_dim_; }
  double target_entropy() const { return target_entropy_; }
  torch::Device device() const { return device_; }

  // The networks, for tests and diagnostics; writing into them (under torch::NoGradGuard, in
  // place) is allowed between calls. Critics P = 2. discriminator() is null for plain SAC.
  BatchedPolicies& mutable_actor() { return actor_; }
  BatchedPolicies& mutable_critic() { return critic_; }
  BatchedPolicies& mutable_target_critic() { return target_critic_; }
  SkillDiscriminator* mutable_discriminator() { return discriminator_.get(); }
  const BatchedPolicies& actor() const { return actor_; }
  const BatchedPolicies& critic() const { return critic_; }
  const BatchedPolicies& target_critic() const { return target_critic_; }
  const SkillDiscriminator* discriminator() const { return discriminator_.get(); }

 private:
  // A minibatch on the device. obs/next_obs already carry the skill one-hot when K > 0.
  struct Batch : TransitionColumns {  // obs and next_obs with the skill one-hot appended (K > 0)
    torch::Tensor skills;             // [B] int64 (K > 0)
    torch::Tensor descriptors, next_descriptors, returns;  // [B, 2], [B, 1]
  };
  // Per-step values kept on the device.
  struct StepLosses {
    torch::Tensor alpha, critic, actor, log_prob, discriminator, intrinsic, gate;
  };
  // Intermediate values of the critic target, for ComputeLosses.
  struct TargetParts {
    torch::Tensor reward, intrinsic, gate, target, next_log_prob;
  };

  Sac(const SacConfig& config, int obs_dim, int action_dim, torch::Device device,
      at::Generator generator, BatchedPolicies actor, BatchedPolicies critic,
      BatchedPolicies target_critic, std::unique_ptr<SkillDiscriminator> discriminator);

  // Checks the host rows (count, skill column) and copies them to the device as [n, width].
  absl::StatusOr<torch::Tensor> RowsToDevice(absl::Span<const float> rows, int64_t n) const;
  Batch SplitRows(const torch::Tensor& rows) const;
  // (mu, std) of the actor for inputs [B, obs_dim + K]; differentiable.
  std::pair<torch::Tensor, torch::Tensor> ActorHeadsOrThrow(const torch::Tensor& obs) const;
  // The critic target y [B, 1] (no grad) and its parts; the reward is the shaped one.
  TargetParts CriticTargetOrThrow(const Batch& batch, const torch::Tensor& unit_noise,
                                  const torch::Tensor& alpha) const;
  torch::Tensor AlphaLossOrThrow(const Batch& batch, const torch::Tensor& unit_noise) const;
  torch::Tensor CriticLossOrThrow(const Batch& batch, const torch::Tensor& target) const;
  // Returns the actor loss and writes mean log pi into *log_prob (detached).
  torch::Tensor ActorLossOrThrow(const Batch& batch, const torch::Tensor& unit_noise,
                                 const torch::Tensor& alpha, torch::Tensor* log_prob) const;
  // One full update on `batch` with noise [3, B, action_dim], except the critics' soft target
  // update, which the caller runs next (it returns a Status).
  StepLosses StepOrThrow(const Batch& batch, const torch::Tensor& unit_noise);
  // Adds every state tensor to / reads it from an archive.
  void WriteState(torch::serialize::OutputArchive& archive) const;
  absl::Status ReadState(torch::serialize::InputArchive& archive);

  SacConfig config_;
  int obs_dim_;
  int action_dim_;
  double target_entropy_;  // H-bar
  torch::Device device_;
  at::Generator generator_;                            // CPU generator for every eps draw (seeded)
  BatchedPolicies actor_;                              // P = 1, requires grad
  BatchedPolicies critic_;                             // P = 2, requires grad
  BatchedPolicies target_critic_;                      // P = 2
  torch::Tensor log_alpha_;                            // [1], requires grad unless fix_alpha
  std::unique_ptr<SkillDiscriminator> discriminator_;  // DIAYN / SMERL only
  std::unique_ptr<torch::optim::Adam> actor_optimizer_;
  std::unique_ptr<torch::optim::Adam> critic_optimizer_;
  std::unique_ptr<torch::optim::Adam> alpha_optimizer_;
  int64_t step_count_ = 0;
};

// Per-row log pi(tanh(u)) [B, 1] of a tanh-squashed diagonal Gaussian N(mu, std^2) at pre-tanh
// values u [B, A]: sum_j [-0.5 ((u - mu) / std)^2 - log std - 0.5 log(2 pi)
// - 2 (log 2 - u - softplus(-2u))]. Differentiable; throws c10::Error.
torch::Tensor TanhGaussianLogProbOrThrow(const torch::Tensor& mu, const torch::Tensor& std,
                                         const torch::Tensor& u);

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_SAC_H_
