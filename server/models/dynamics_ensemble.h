// Probabilistic bootstrap ensemble of dynamics models q_phi(s' | s, a) (paper §3.1, following
// PETS): E MLPs, evaluated together as one batched computation, each predicting a diagonal
// Gaussian over the z-score-normalised state delta s' - s. Used by imagination for rollouts.
//
// Includes <torch/torch.h> for the tensor-level API; only server/models code includes this
// header (STYLE.md §4: no torch outside server/models).
#ifndef GDAQD_SERVER_MODELS_DYNAMICS_ENSEMBLE_H_
#define GDAQD_SERVER_MODELS_DYNAMICS_ENSEMBLE_H_

#include <torch/torch.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/config/algorithms/model_rules.h"
#include "common/config/algorithms/pga_defaults.h"
#include "server/models/errors.h"
#include "server/models/imagination.h"

namespace gdaqd::server::models {

// Defaults: DESIGN.md §5 "dynamics ensemble" row, taken from imagined-qd's daqd.yaml
// (research/algorithms.md §3.1) unless noted. The values that a config sets (model.*, pga.device)
// come from the config layer's constants (common/config/algorithms/model_rules.h), so a default
// lives in one place; the rest are this library's own.
struct EnsembleConfig {
  int members = common::kDefaultEnsembleMembers;  // surrogate_ensemble_size 4
  // surrogate_hidden_layer_sizes (512, 512); ReLU hidden layers
  std::vector<int> hidden = {common::kDefaultEnsembleHiddenSize,
                             common::kDefaultEnsembleHiddenSize};
  double learning_rate = common::kDefaultEnsembleLr;  // Adam, surrogate_learning_rate 1e-3
  // Soft bounds of the predicted log-std (normalised delta space), PETS softplus clamp;
  // constants, not learned. imagined-qd's learned-std variant uses [-4, 1] (DAQD-2021: [-1, 1]).
  float min_log_std = common::kDefaultMinLogStd;  // -4
  float max_log_std = common::kDefaultMaxLogStd;  // 1
  // 90/10 train/holdout split at each Train() (both sources)
  double holdout_fraction = common::kDefaultHoldoutFraction;
  // max_epochs_since_improvement (10): checks without improvement
  int patience = common::kDefaultModelPatience;
  // improvement must exceed 1 % (both sources)
  double min_relative_improvement = common::kDefaultModelMinImprovement;
  int max_steps = common::kDefaultModelMaxTrainSteps;  // num_model_training_steps (2000)
  int steps_per_check = 10;  // num_batches_per_loss: Adam steps between checks
  // Minibatch per member per step. Our choice: imagined-qd uses 32, DAQD-2021 512; 256 keeps
  // the matmuls BLAS-efficient (and matches the critic's minibatch, DESIGN.md §5).
  int batch_size = common::kDefaultModelTrainBatchSize;
  // Holdout rows scored at each check (a fixed random subset when the holdout is larger). Our
  // choice: imagined-qd scores 32 (noisy), DAQD-2021 up to 8,092 once per epoch; 1,024 costs
  // ~13 % of the training compute at the defaults.
  int max_holdout_rows = 1024;
  std::string device = common::kDefaultPgaDevice;  // auto | cpu | cuda (torch_util.h SelectDevice)
  uint64_t seed = 0;  // weight initialisation (each member drawn independently)
};

// Outcome of one Train() call. Losses are Gaussian NLLs in normalised delta space (sum over
// state dims, mean over rows and members); they can be negative.
struct TrainReport {
  int steps = 0;               // Adam steps taken
  int checks = 0;              // holdout evaluations
  bool stopped_early = false;  // patience ran out before max_steps
  int64_t train_rows = 0;
  int64_t holdout_rows = 0;       // whole holdout split (at most max_holdout_rows are scored)
  double train_loss = 0;          // mean minibatch NLL over the last steps_per_check steps
  double first_holdout_loss = 0;  // at the first check; NaN without a holdout
  double holdout_loss = 0;        // at the last check; NaN without a holdout
  // Mean over members, scored holdout rows and state dims of (predicted mean next_obs -
  // next_obs)^2 at the last check, in real (unnormalised) units; NaN without a holdout.
  double holdout_mse = 0;
  double seconds = 0;  // wall-clock time of the call
};

// One Gaussian per member and row over the normalised delta, as the network outputs it:
// delta = (mean + exp(log_std) * N(0, 1)) * delta_std + delta_mean.
struct DeltaDistribution {
  torch::Tensor mean;     // [E, B, obs_dim], float32, on device()
  torch::Tensor log_std;  // [E, B, obs_dim], soft-clamped into [min_log_std, max_log_std]
};

// z-score statistics from the last Train() call (identity before the first call).
struct EnsembleNormalizer {
  torch::Tensor input_mean;  // [obs_dim + action_dim], of concat(obs, action)
  torch::Tensor input_std;   // [obs_dim + action_dim], std < 1e-6 replaced by 1
  torch::Tensor delta_mean;  // [obs_dim], of next_obs - obs
  torch::Tensor delta_std;   // [obs_dim], std < 1e-6 replaced by 1
};

// The ensemble: weights, normaliser and Adam state, all on one device.
//
// Network: input concat(obs, action) normalised -> hidden ReLU layers -> 2 * obs_dim outputs
// (mean, raw log-std). Member m's layer l is W[l][m] ([in, out]) and b[l][m] ([1, out]); all
// members run as one torch::baddbmm per layer (no per-member loop), so grouped inference is
// one dense matmul per member per layer. Weights start as imagined-qd's lecun_normal (truncated
// normal, variance 1 / fan_in, drawn independently per member), biases at 0.
//
// Performance (Debian LibTorch 1.13 + OpenBLAS-pthread): keep torch's intra-op threads at 1
// (SetTorchThreads(1)); OpenBLAS still runs each matmul on its own threads. With 2 OpenMP
// threads on a 2-core machine, OpenMP's spinning workers starve OpenBLAS's and a training step
// became ~12x slower.
//
// Thread-compatible: const methods (Predict*, Save, Clone, accessors) may run concurrently with
// each other; Train() needs exclusive access. The trainer thread owns the
// ensemble; readers get a Clone() snapshot (STYLE.md §8). LibTorch's own intra-op threads
// come from SetTorchThreads().
class DynamicsEnsemble final : public GroupedDynamics {
 public:
  // InvalidArgument naming the field ("config.hidden[1] must be >= 1, got 0") for a bad config
  // or dims (obs_dim, action_dim >= 1); SelectDevice's errors for config.device.
  // Deterministic given config.seed, whatever the device (weights are drawn on the CPU).
  static absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> Create(int obs_dim, int action_dim,
                                                                  const EnsembleConfig& config);

  DynamicsEnsemble(const DynamicsEnsemble&) = delete;
  DynamicsEnsemble& operator=(const DynamicsEnsemble&) = delete;
  ~DynamicsEnsemble() override;

  // Fits the ensemble to `rows` (transition rows [obs, action, reward, next_obs, done,
  // truncated], ReplayBuffer's layout; only obs, action and next_obs are used):
  // recomputes the normaliser from all rows, splits off a random holdout_fraction (at least one
  // row if the fraction is > 0), then takes Adam steps where each member draws its own
  // minibatch with replacement from the training split (bootstrap by resampling). Every
  // steps_per_check steps it scores the holdout; it stops when the holdout NLL has not improved
  // by more than min_relative_improvement (relative) for `patience` checks, or at max_steps.
  // Without a holdout it runs max_steps. Adam's moments persist across calls.
  // `interrupt` (may be null) is polled before every Adam step: once set, Train() returns
  // Cancelled("dynamics model training interrupted") within one step (milliseconds at the
  // defaults), leaving weights, normaliser and Adam state part-way (discard the ensemble).
  // InvalidArgument if rows is not a whole number of rows, has non-finite values, or has
  // fewer than 2 rows (1 without holdout). Internal "dynamics model training loss became
  // non-finite (nan) in step 10" (or "dynamics model holdout loss ...") if a loss diverges, e.g.
  // on extreme finite values that overflow the normaliser (the weights are then unusable);
  // Internal if LibTorch fails; ResourceExhausted if an allocation fails.
  absl::StatusOr<TrainReport> Train(absl::Span<const float> rows, std::mt19937_64& rng,
                                    const InterruptFlag* interrupt = nullptr);

  // Imagination step for B rollouts on host memory: next_obs[b] = obs[b] + delta predicted by
  // member[b] (its mean, or a Gaussian sample drawn from `rng` when `sample`). Rows are grouped
  // by member, so the cost is one batched forward over max-rows-per-member.
  // obs [B, obs_dim], actions [B, action_dim], member [B], next_obs [B, obs_dim], row-major,
  // B = member.size(). InvalidArgument on mismatched sizes, a member outside [0, members) or
  // non-finite inputs.
  absl::Status Predict(absl::Span<const float> obs, absl::Span<const float> actions,
                       absl::Span<const int32_t> member, bool sample, std::mt19937_64& rng,
                       absl::Span<float> next_obs) const;

  // Tensor-level imagination step, kept on device: rollouts grouped by member, B_e per member.
  // obs [E, B_e, obs_dim], actions [E, B_e, action_dim], float32 (moved to device() if
  // elsewhere). Returns next_obs [E, B_e, obs_dim] on device(). With `sample`, the noise comes
  // from `generator` (a generator of device()'s type) or LibTorch's default one for the device
  // (torch::manual_seed). Runs under c10::InferenceMode: do not backpropagate through it.
  // InvalidArgument on bad shapes or dtype.
  absl::StatusOr<torch::Tensor> PredictGrouped(
      const torch::Tensor& obs, const torch::Tensor& actions, bool sample,
      c10::optional<at::Generator> generator = c10::nullopt) const override;

  // On the CPU, the fused host-memory step (EnsembleStepper: same predictions and draws as
  // PredictGrouped, to float rounding); elsewhere, or without a BLAS sgemm_ in the process,
  // GroupedDynamics' default. The stepper reads this ensemble's weights: keep it alive and
  // untrained while the stepper exists. InvalidArgument if per_member < 1.
  absl::StatusOr<std::unique_ptr<GroupedStepper>> MakeHostStepper(
      int64_t per_member) const override;

  // Same inputs as PredictGrouped(); returns the members' Gaussians over the normalised delta.
  absl::StatusOr<DeltaDistribution> PredictDelta(const torch::Tensor& obs,
                                                 const torch::Tensor& actions) const;

  // Deep copy of weights and normaliser on the same device, with a fresh optimiser: the
  // read-only snapshot the trainer publishes to imagination threads.
  absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> Clone() const;

  // Writes config (except device), weights, normaliser and Adam state: magic "GDQDENSB",
  // uint32 version, uint64 length, then a LibTorch archive. DataLoss if the stream fails.
  absl::Status Save(std::ostream& out) const;
  // Reads what Save() wrote onto `device` (auto | cpu | cuda). InvalidArgument on a bad magic,
  // version, truncated or corrupt archive, or inconsistent shapes; SelectDevice's errors.
  static absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> Load(std::istream& in,
                                                                const std::string& device);

  int obs_dim() const override { return obs_dim_; }
  int action_dim() const override { return action_dim_; }
  int members() const override { return config_.members; }
  const EnsembleConfig& config() const { return config_; }
  torch::Device device() const override { return device_; }
  // Whether Train() has completed at least once (else the normaliser is the identity and the
  // weights are random).
  bool trained() const { return trained_; }
  // Per layer l: weights()[l] [E, in_l, out_l], biases()[l] [E, 1, out_l]; the last layer has
  // 2 * obs_dim outputs (mean, raw log-std). For tests and diagnostics; do not modify.
  const std::vector<torch::Tensor>& weights() const { return weights_; }
  const std::vector<torch::Tensor>& biases() const { return biases_; }
  const EnsembleNormalizer& normalizer() const { return normalizer_; }

 private:
  DynamicsEnsemble(int obs_dim, int action_dim, const EnsembleConfig& config, torch::Device device);

  struct SplitData;  // normalised training tensors of one Train() call (in the .cc)

  // Draws the initial weights (CPU generator seeded with config_.seed) and builds Adam.
  void InitWeights();
  // x: [E, B, in] normalised inputs -> mean and soft-clamped log-std, each [E, B, obs_dim].
  DeltaDistribution Forward(const torch::Tensor& x) const;
  // Gaussian NLL, sum over dims, mean over rows and members.
  torch::Tensor Nll(const DeltaDistribution& pred, const torch::Tensor& y) const;
  // Checks shapes/dtype of PredictGrouped inputs and returns normalised inputs [E, B, in].
  absl::StatusOr<torch::Tensor> NormalizedGroupedInputs(const torch::Tensor& obs,
                                                        const torch::Tensor& actions) const;
  // Recomputes the normaliser from `rows` and returns the normalised random split.
  SplitData PrepareData(absl::Span<const float> rows, int64_t holdout_rows, std::mt19937_64& rng);
  absl::StatusOr<TrainReport> TrainImpl(absl::Span<const float> rows, std::mt19937_64& rng,
                                        const InterruptFlag* interrupt);
  // One Adam step on fresh bootstrap minibatches; returns the loss (0-dim, on device).
  torch::Tensor TrainStep(const SplitData& data, std::mt19937_64& rng);
  // Copies weights, normaliser, `trained` and Adam state from a Save() archive into this
  // ensemble (created from the archive's config). InvalidArgument on shape mismatches; throws
  // c10::Error on missing or mistyped entries (Load() maps both to InvalidArgument).
  absl::Status RestoreState(torch::serialize::InputArchive& archive);
  // Holdout NLL and real-unit MSE of the scored holdout rows.
  std::pair<double, double> EvaluateHoldout(const SplitData& data) const;

  int obs_dim_;
  int action_dim_;
  EnsembleConfig config_;
  torch::Device device_;
  bool trained_ = false;
  std::vector<torch::Tensor> weights_;  // per layer [E, in, out], requires_grad
  std::vector<torch::Tensor> biases_;   // per layer [E, 1, out], requires_grad
  EnsembleNormalizer normalizer_;       // on device_
  // Host copies of normalizer_.delta_{mean,std} for Predict(), [obs_dim] each.
  std::vector<float> delta_mean_host_;
  std::vector<float> delta_std_host_;
  std::unique_ptr<torch::optim::Adam> optimizer_;  // over weights_ then biases_
};

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_DYNAMICS_ENSEMBLE_H_
