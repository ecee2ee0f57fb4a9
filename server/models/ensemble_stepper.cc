#include "server/models/ensemble_stepper.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {
namespace {

std::vector<float> HostCopy(const torch::Tensor& t) {
  const torch::Tensor cpu = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
}

// In place max(v, 0) that keeps NaN (as torch::relu), vectorised per instruction set.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void ReluInPlace(float* v, int64_t n) {
  typedef float Vec __attribute__((vector_size(16 * sizeof(float))));
  const Vec zero = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Vec x;
    std::memcpy(&x, v + i, sizeof(Vec));
    x = x < zero ? zero : x;
    std::memcpy(v + i, &x, sizeof(Vec));
  }
  for (; i < n; ++i) v[i] = v[i] < 0.0f ? 0.0f : v[i];
}

// torch::softplus with beta 1 and threshold 20.
inline float Softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace

absl::StatusOr<std::unique_ptr<EnsembleStepper>> EnsembleStepper::Create(
    const DynamicsEnsemble& ensemble, int64_t per_member) {
  if (per_member < 1) {
    return absl::InvalidArgumentError(absl::StrCat("per_member must be >= 1, got ", per_member));
  }
  if (!ensemble.device().is_cpu()) {
    return absl::UnimplementedError("the fused ensemble step runs on the CPU only");
  }
  // LibTorch's own BLAS (OpenBLAS on Debian), called directly: no dispatch, no per-member split.
  auto* sgemm = reinterpret_cast<SgemmFn*>(dlsym(RTLD_DEFAULT, "sgemm_"));
  if (sgemm == nullptr) return absl::UnimplementedError("no BLAS sgemm_ in this process");
  for (size_t l = 0; l < ensemble.weights().size(); ++l) {
    for (const torch::Tensor* t : {&ensemble.weights()[l], &ensemble.biases()[l]}) {
      if (!t->is_contiguous() || t->scalar_type() != torch::kFloat32) {
        return absl::UnimplementedError("ensemble weights are not contiguous float32");
      }
    }
  }
  std::unique_ptr<EnsembleStepper> stepper(new EnsembleStepper(ensemble, per_member, sgemm));
  absl::Status status = CallTorch("EnsembleStepper::Create", [&]() -> absl::Status {
    const EnsembleNormalizer& norm = ensemble.normalizer();
    stepper->input_mean_ = HostCopy(norm.input_mean);
    stepper->input_std_ = HostCopy(norm.input_std);
    stepper->delta_mean_ = HostCopy(norm.delta_mean);
    stepper->delta_std_ = HostCopy(norm.delta_std);
    stepper->noise_ = torch::empty({stepper->members_, per_member, stepper->obs_dim_},
                                   torch::TensorOptions().dtype(torch::kFloat32));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return stepper;
}

EnsembleStepper::EnsembleStepper(const DynamicsEnsemble& ensemble, int64_t per_member,
                                 SgemmFn* sgemm)
    : obs_dim_(ensemble.obs_dim()),
      action_dim_(ensemble.action_dim()),
      members_(ensemble.members()),
      per_member_(per_member),
      min_log_std_(ensemble.config().min_log_std),
      max_log_std_(ensemble.config().max_log_std),
      sgemm_(sgemm),
      weights_(ensemble.weights()),
      biases_(ensemble.biases()) {
  sizes_.push_back(obs_dim_ + action_dim_);
  for (const torch::Tensor& w : weights_) sizes_.push_back(static_cast<int>(w.size(2)));
  const int64_t rows = members_ * per_member_;
  x_.resize(rows * sizes_[0]);
  for (size_t l = 1; l < sizes_.size(); ++l) acts_.emplace_back(rows * sizes_[l]);
}

absl::Status EnsembleStepper::Step(absl::Span<const float> obs, absl::Span<const float> actions,
                                   bool sample, c10::optional<at::Generator> generator,
                                   absl::Span<float> next_obs) {
  const int64_t rows = members_ * per_member_;
  if (static_cast<int64_t>(obs.size()) != rows * obs_dim_ ||
      static_cast<int64_t>(next_obs.size()) != rows * obs_dim_ ||
      static_cast<int64_t>(actions.size()) != rows * action_dim_) {
    return absl::InvalidArgumentError(
        absl::StrCat("stepper buffers do not hold ", rows, " rows of obs, actions and next_obs"));
  }
  NormalizeInputs(obs, actions);
  Layers();
  if (sample) {
    // PredictGrouped's torch::randn(shape, generator) is empty(shape).normal_(0, 1, generator).
    absl::Status drawn = CallTorch("EnsembleStepper::Step", [&]() -> absl::Status {
      noise_.normal_(0.0, 1.0, generator);
      return absl::OkStatus();
    });
    if (!drawn.ok()) return drawn;
  }
  Denormalize(obs, sample, next_obs);
  return absl::OkStatus();
}

void EnsembleStepper::NormalizeInputs(absl::Span<const float> obs,
                                      absl::Span<const float> actions) {
  const int64_t rows = members_ * per_member_;
  const int in = sizes_[0];
  for (int64_t r = 0; r < rows; ++r) {
    float* x = &x_[r * in];
    const float* o = &obs[r * obs_dim_];
    const float* a = &actions[r * action_dim_];
    for (int k = 0; k < obs_dim_; ++k) x[k] = (o[k] - input_mean_[k]) / input_std_[k];
    for (int k = 0; k < action_dim_; ++k) {
      x[obs_dim_ + k] = (a[k] - input_mean_[obs_dim_ + k]) / input_std_[obs_dim_ + k];
    }
  }
}

void EnsembleStepper::Layers() {
  const int b = static_cast<int>(per_member_);
  const float one = 1.0f;
  const char no_transpose = 'N';
  const float* input = x_.data();
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    const int in = sizes_[l], out = sizes_[l + 1];
    float* output = acts_[l].data();
    const float* w = weights_[l].data_ptr<float>();
    const float* bias = biases_[l].data_ptr<float>();
    for (int64_t e = 0; e < members_; ++e) {
      float* c = output + e * b * out;
      for (int r = 0; r < b; ++r) std::memcpy(c + r * out, bias + e * out, out * sizeof(float));
      // Row-major C [B, out] += X [B, in] @ W [in, out] is column-major C^T += W^T X^T.
      sgemm_(&no_transpose, &no_transpose, &out, &b, &in, &one, w + e * in * out, &out,
             input + e * b * in, &in, &one, c, &out);
    }
    if (l + 2 < sizes_.size()) ReluInPlace(output, members_ * b * out);
    input = output;
  }
}

void EnsembleStepper::Denormalize(absl::Span<const float> obs, bool sample,
                                  absl::Span<float> next_obs) const {
  const int64_t rows = members_ * per_member_;
  const float lo = min_log_std_, hi = max_log_std_;
  const std::vector<float>& head = acts_.back();  // [rows, 2 * obs_dim]: mean, raw log-std
  const float* noise = sample ? noise_.data_ptr<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const float* mean = &head[r * 2 * obs_dim_];
    const float* raw = mean + obs_dim_;
    for (int d = 0; d < obs_dim_; ++d) {
      float z = mean[d];
      if (sample) {
        // PETS soft clamp of DynamicsEnsemble::Forward.
        const float upper = hi - Softplus(hi - raw[d]);
        const float log_std = lo + Softplus(upper - lo);
        z = z + std::exp(log_std) * noise[r * obs_dim_ + d];
      }
      next_obs[r * obs_dim_ + d] = obs[r * obs_dim_ + d] + z * delta_std_[d] + delta_mean_[d];
    }
  }
}

}  // namespace gdaqd::server::models
