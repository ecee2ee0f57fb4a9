// DynamicsEnsemble's imagination step on the CPU as one pass over host buffers: the input
// normalisation, each layer's bias and ReLU, the log-std soft bounds, the Gaussian sample and the
// de-normalisation run in plain loops around one BLAS sgemm per member and layer, instead of the
// ~20 small LibTorch ops of PredictGrouped. The Gaussian noise is still drawn by LibTorch (one
// normal_ per step into a preallocated tensor of PredictGrouped's shape), so a generator in the
// same state gives the same draws and the same predictions to float rounding.
#ifndef GDAQD_SERVER_MODELS_ENSEMBLE_STEPPER_H_
#define GDAQD_SERVER_MODELS_ENSEMBLE_STEPPER_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/models/dynamics_ensemble.h"
#include "server/models/imagination.h"

namespace gdaqd::server::models {

// Ownership: keeps references to the ensemble's weight tensors (shares their storage) and host
// copies of its normaliser; the ensemble must outlive the stepper and not train meanwhile
// (imagination uses a Clone() snapshot). Thread-compatible (GroupedStepper).
class EnsembleStepper final : public GroupedStepper {
 public:
  // A stepper for `per_member` rows per member. Unimplemented when the ensemble is not on the CPU,
  // its weights are not contiguous float32, or the process has no BLAS sgemm_ (LibTorch built
  // without an external BLAS): callers then use GroupedDynamics' default stepper.
  // InvalidArgument if per_member < 1.
  static absl::StatusOr<std::unique_ptr<EnsembleStepper>> Create(const DynamicsEnsemble& ensemble,
                                                                 int64_t per_member);

  absl::Status Step(absl::Span<const float> obs, absl::Span<const float> actions, bool sample,
                    c10::optional<at::Generator> generator, absl::Span<float> next_obs) override;

  // Fortran BLAS sgemm (column-major), as libblas exports it.
  using SgemmFn = void(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c, const int* ldc);

 private:
  EnsembleStepper(const DynamicsEnsemble& ensemble, int64_t per_member, SgemmFn* sgemm);

  // x_ = (concat(obs, actions) - input_mean) / input_std, [E * B, in].
  void NormalizeInputs(absl::Span<const float> obs, absl::Span<const float> actions);
  // acts_[l] = relu?(acts_[l - 1] @ W_l + b_l) per member, one sgemm per member.
  void Layers();
  // next_obs = obs + (mean + exp(softclamp(raw log-std)) * noise) * delta_std + delta_mean.
  void Denormalize(absl::Span<const float> obs, bool sample, absl::Span<float> next_obs) const;

  int obs_dim_;
  int action_dim_;
  int64_t members_;
  int64_t per_member_;
  float min_log_std_;
  float max_log_std_;
  SgemmFn* sgemm_;
  std::vector<int> sizes_;                // layer widths in, hidden..., 2 * obs_dim
  std::vector<torch::Tensor> weights_;    // per layer [E, in, out], contiguous, shared storage
  std::vector<torch::Tensor> biases_;     // per layer [E, 1, out], contiguous
  std::vector<float> input_mean_;         // [in]
  std::vector<float> input_std_;          // [in]
  std::vector<float> delta_mean_;         // [obs_dim]
  std::vector<float> delta_std_;          // [obs_dim]
  std::vector<float> x_;                  // [E * B, in], normalised inputs
  std::vector<std::vector<float>> acts_;  // per layer [E * B, out_l]
  torch::Tensor noise_;                   // [E, B, obs_dim], PredictGrouped's randn shape
};

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_ENSEMBLE_STEPPER_H_
