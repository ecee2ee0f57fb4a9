#include "server/models/batched_policy.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {

std::vector<int> PolicyShape::sizes() const {
  std::vector<int> sizes;
  sizes.reserve(hidden.size() + 2);
  sizes.push_back(obs_dim);
  sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(action_dim);
  return sizes;
}

int64_t PolicyShape::num_params() const {
  const std::vector<int> s = sizes();
  int64_t total = 0;
  for (size_t l = 0; l + 1 < s.size(); ++l) {
    total += static_cast<int64_t>(s[l]) * s[l + 1] + s[l + 1];
  }
  return total;
}

absl::Status PolicyShape::Validate() const {
  if (obs_dim < 1) return absl::InvalidArgumentError(absl::StrCat("obs_dim is ", obs_dim));
  if (action_dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("action_dim is ", action_dim));
  }
  for (size_t i = 0; i < hidden.size(); ++i) {
    if (hidden[i] < 1) {
      return absl::InvalidArgumentError(absl::StrCat("hidden[", i, "] is ", hidden[i]));
    }
  }
  if (absl::StatusOr<Activation> a = ParseActivation(hidden_activation); !a.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("hidden_activation: ", a.status().message()));
  }
  if (absl::StatusOr<Activation> a = ParseActivation(output_activation); !a.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("output_activation: ", a.status().message()));
  }
  return absl::OkStatus();
}

torch::Tensor ApplyActivation(const torch::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::kRelu:
      return torch::relu(x);
    case Activation::kTanh:
      return torch::tanh(x);
    case Activation::kSwish:
      return torch::silu(x);
    case Activation::kIdentity:
      return x;
  }
  return x;
}

torch::Tensor BatchedMlpForward(absl::Span<const torch::Tensor> weights,
                                absl::Span<const torch::Tensor> biases, const torch::Tensor& x,
                                Activation hidden, Activation output) {
  TORCH_CHECK(!weights.empty() && weights.size() == biases.size(),
              "BatchedMlpForward needs one bias per weight");
  torch::Tensor h = x;
  if (h.dim() == 2) {
    // Shared batch: a stride-0 view, baddbmm reads it without copying.
    h = h.unsqueeze(0).expand({weights[0].size(0), h.size(0), h.size(1)});
  }
  const size_t last = weights.size() - 1;
  for (size_t l = 0; l < weights.size(); ++l) {
    // bias [P, 1, out] broadcasts over the batch: one dense batched matmul per layer.
    h = ApplyActivation(torch::baddbmm(biases[l], h, weights[l]), l == last ? output : hidden);
  }
  return h;
}

BatchedPolicies::BatchedPolicies(PolicyShape shape, Activation hidden, Activation output,
                                 int64_t num_policies, std::vector<torch::Tensor> weights,
                                 std::vector<torch::Tensor> biases)
    : shape_(std::move(shape)),
      hidden_activation_(hidden),
      output_activation_(output),
      num_policies_(num_policies),
      weights_(std::move(weights)),
      biases_(std::move(biases)) {}

absl::StatusOr<BatchedPolicies> BatchedPolicies::FromFlat(const PolicyShape& shape,
                                                          absl::Span<const float> flat,
                                                          torch::Device device) {
  if (absl::Status s = shape.Validate(); !s.ok()) return s;
  const int64_t num_params = shape.num_params();
  if (flat.empty() || static_cast<int64_t>(flat.size()) % num_params != 0) {
    return absl::InvalidArgumentError(absl::StrCat("flat buffer has ", flat.size(),
                                                   " floats, not a positive multiple of ",
                                                   num_params, " parameters per policy"));
  }
  const int64_t p = static_cast<int64_t>(flat.size()) / num_params;
  return CallTorch("BatchedPolicies::FromFlat", [&]() -> absl::StatusOr<BatchedPolicies> {
    // from_blob does not copy; the host tensor is copied before `flat` can go away.
    torch::Tensor host = torch::from_blob(const_cast<float*>(flat.data()), {p, num_params},
                                          torch::TensorOptions().dtype(torch::kFloat32));
    return FromFlatTensor(shape, device.is_cpu() ? host.clone() : host.to(device));
  });
}

absl::StatusOr<BatchedPolicies> BatchedPolicies::FromFlatTensor(const PolicyShape& shape,
                                                                const torch::Tensor& flat) {
  if (absl::Status s = shape.Validate(); !s.ok()) return s;
  const int64_t num_params = shape.num_params();
  if (!flat.defined() || flat.dim() != 2 || flat.size(0) < 1 || flat.size(1) != num_params ||
      flat.scalar_type() != torch::kFloat32) {
    return absl::InvalidArgumentError(
        absl::StrCat("flat tensor must be float32 [P >= 1, ", num_params, "]"));
  }
  const Activation hidden = *ParseActivation(shape.hidden_activation);
  const Activation output = *ParseActivation(shape.output_activation);
  return CallTorch("BatchedPolicies::FromFlatTensor", [&]() -> absl::StatusOr<BatchedPolicies> {
    const int64_t p = flat.size(0);
    const std::vector<int> sizes = shape.sizes();
    std::vector<torch::Tensor> weights;
    std::vector<torch::Tensor> biases;
    int64_t offset = 0;
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      const int64_t in = sizes[l];
      const int64_t out = sizes[l + 1];
      weights.push_back(
          flat.narrow(1, offset, in * out).reshape({p, in, out}).detach().clone().contiguous());
      offset += in * out;
      biases.push_back(flat.narrow(1, offset, out).reshape({p, 1, out}).detach().clone());
      offset += out;
    }
    return BatchedPolicies(shape, hidden, output, p, std::move(weights), std::move(biases));
  });
}

absl::StatusOr<torch::Tensor> BatchedPolicies::Forward(const torch::Tensor& obs) const {
  const bool shared = obs.defined() && obs.dim() == 2;
  const bool per_policy = obs.defined() && obs.dim() == 3 && obs.size(0) == num_policies_;
  if (!(shared || per_policy) || obs.size(-1) != shape_.obs_dim ||
      obs.scalar_type() != torch::kFloat32 || obs.device() != device()) {
    return absl::InvalidArgumentError(absl::StrCat("obs must be float32 [", num_policies_, ", B, ",
                                                   shape_.obs_dim, "] or [B, ", shape_.obs_dim,
                                                   "] on ", device().str()));
  }
  return CallTorch("BatchedPolicies::Forward",
                   [&]() -> absl::StatusOr<torch::Tensor> { return ForwardOrThrow(obs); });
}

torch::Tensor BatchedPolicies::ForwardOrThrow(const torch::Tensor& obs) const {
  return BatchedMlpForward(weights_, biases_, obs, hidden_activation_, output_activation_);
}

torch::Tensor BatchedPolicies::FlatTensorOrThrow() const {
  std::vector<torch::Tensor> pieces;
  pieces.reserve(2 * weights_.size());
  for (size_t l = 0; l < weights_.size(); ++l) {
    pieces.push_back(weights_[l].detach().reshape({num_policies_, -1}));
    pieces.push_back(biases_[l].detach().reshape({num_policies_, -1}));
  }
  return torch::cat(pieces, 1);
}

absl::StatusOr<std::vector<float>> BatchedPolicies::ToFlat() const {
  return CallTorch("BatchedPolicies::ToFlat", [&]() -> absl::StatusOr<std::vector<float>> {
    torch::Tensor host = FlatTensorOrThrow().to(torch::kCPU).contiguous();
    std::vector<float> flat(static_cast<size_t>(host.numel()));
    std::memcpy(flat.data(), host.data_ptr<float>(), flat.size() * sizeof(float));
    return flat;
  });
}

absl::StatusOr<BatchedPolicies> BatchedPolicies::Clone() const {
  return CallTorch("BatchedPolicies::Clone", [&]() -> absl::StatusOr<BatchedPolicies> {
    std::vector<torch::Tensor> weights;
    std::vector<torch::Tensor> biases;
    for (size_t l = 0; l < weights_.size(); ++l) {
      weights.push_back(weights_[l].detach().clone());
      biases.push_back(biases_[l].detach().clone());
    }
    return BatchedPolicies(shape_, hidden_activation_, output_activation_, num_policies_,
                           std::move(weights), std::move(biases));
  });
}

absl::Status BatchedPolicies::CheckSameLayout(const BatchedPolicies& other) const {
  if (other.num_policies_ != num_policies_ || other.shape_.sizes() != shape_.sizes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy batches differ: P ", other.num_policies_, " vs ", num_policies_,
                     ", parameters ", other.shape_.num_params(), " vs ", shape_.num_params()));
  }
  return absl::OkStatus();
}

absl::Status BatchedPolicies::CopyFrom(const BatchedPolicies& source) {
  if (absl::Status s = CheckSameLayout(source); !s.ok()) return s;
  return CallTorch("BatchedPolicies::CopyFrom", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (size_t l = 0; l < weights_.size(); ++l) {
      weights_[l].copy_(source.weights_[l]);
      biases_[l].copy_(source.biases_[l]);
    }
    return absl::OkStatus();
  });
}

absl::Status BatchedPolicies::SoftUpdateFrom(const BatchedPolicies& source, double tau) {
  if (absl::Status s = CheckSameLayout(source); !s.ok()) return s;
  return CallTorch("BatchedPolicies::SoftUpdateFrom", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (size_t l = 0; l < weights_.size(); ++l) {
      weights_[l].mul_(1.0 - tau).add_(source.weights_[l], tau);
      biases_[l].mul_(1.0 - tau).add_(source.biases_[l], tau);
    }
    return absl::OkStatus();
  });
}

void BatchedPolicies::set_requires_grad(bool requires_grad) {
  for (size_t l = 0; l < weights_.size(); ++l) {
    weights_[l].set_requires_grad(requires_grad);
    biases_[l].set_requires_grad(requires_grad);
  }
}

std::vector<torch::Tensor> BatchedPolicies::parameters() const {
  std::vector<torch::Tensor> params;
  params.reserve(2 * weights_.size());
  for (size_t l = 0; l < weights_.size(); ++l) {
    params.push_back(weights_[l]);
    params.push_back(biases_[l]);
  }
  return params;
}

}  // namespace gdaqd::server::models
