// P MLP policies of one shape evaluated together on the device: their flat parameter vectors
// (docs/policy_layout.md) stacked into per-layer tensors, so a forward pass over all of them is one
// batched matmul (torch::baddbmm) per layer. Used for imagined rollouts, the TD3 greedy actor and
// policy-gradient children; the same code also runs the TD3 twin critics (P = 2, identity output).
#ifndef GDAQD_SERVER_MODELS_BATCHED_POLICY_H_
#define GDAQD_SERVER_MODELS_BATCHED_POLICY_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/models/host_mlp.h"  // Activation, ParseActivation

namespace gdaqd::server::models {

// Shape of a fully connected policy obs_dim -> hidden[0] -> ... -> action_dim. This mirrors
// common::MlpLayout without depending on common/ (gdaqd_models builds alone against LibTorch).
// Flat layout (docs/policy_layout.md): layers in order; layer l contributes W [in, out] row-major
// then b [out]; it computes y = act(x @ W + b) with hidden_activation on hidden layers and
// output_activation on the last one.
struct PolicyShape {
  int obs_dim = 0;
  std::vector<int> hidden;  // e.g. {64, 64}; may be empty (one layer obs -> action)
  int action_dim = 0;
  std::string hidden_activation = "relu";
  std::string output_activation = "tanh";

  // Layer widths obs_dim, hidden..., action_dim (size num_layers() + 1).
  std::vector<int> sizes() const;
  int num_layers() const { return static_cast<int>(hidden.size()) + 1; }
  // Floats of one flat parameter vector: sum over layers of in * out + out.
  int64_t num_params() const;
  // InvalidArgument naming the field if a size is < 1 or an activation name is unknown.
  absl::Status Validate() const;
};

// Applies `activation` (out of place; differentiable).
torch::Tensor ApplyActivation(const torch::Tensor& x, Activation activation);

// Batched MLP forward: for member p, y[p] = act_L(... act_0(x[p] @ W_0[p] + b_0[p]) ...).
//   weights[l]: [P, in_l, out_l], biases[l]: [P, 1, out_l], same dtype and device as x;
//   x: [P, B, in_0], or [B, in_0] shared by all P members (broadcast without a copy).
// Returns [P, B, out_L]. Hidden layers use `hidden`, the last layer `output`.
// Throws c10::Error on shape mismatch: call it inside CallTorch (torch_util.h).
torch::Tensor BatchedMlpForward(absl::Span<const torch::Tensor> weights,
                                absl::Span<const torch::Tensor> biases, const torch::Tensor& x,
                                Activation hidden, Activation output);

// P policies of one PolicyShape as stacked float32 tensors on one device.
//
// Ownership: owns its tensors (leaf tensors; move-only, use Clone() for a deep copy). Tensors
// returned by weights()/biases()/parameters() share storage with this object.
// Thread-compatible: const methods may run concurrently; anything that writes the parameters
// (optimiser steps, CopyFrom, SoftUpdateFrom) needs external synchronisation.
//
// Policy-gradient training of P children at once: set_requires_grad(true), and minimise the SUM
// over children of each child's loss with ONE torch::optim::Adam over parameters(). Adam is
// element-wise (its moments, bias corrections and step count are per element and start from zero
// together), and child p's loss depends only on child p's slices, so this is exactly P
// independent optimisations, each with its own fresh Adam state. (Use the sum, not the mean over
// children: a mean would scale every gradient by 1/P, which Adam undoes only up to its epsilon.)
class BatchedPolicies {
 public:
  // Builds P = flat.size() / num_params policies from a host buffer [P, num_params] (row p is
  // policy p's flat vector) and places them on `device`.
  // InvalidArgument if the shape is invalid, flat is empty or its size is not a multiple of
  // num_params; Internal for LibTorch failures.
  static absl::StatusOr<BatchedPolicies> FromFlat(const PolicyShape& shape,
                                                  absl::Span<const float> flat,
                                                  torch::Device device);
  // Same from a float32 tensor [P, num_params] on any device; the result lives on that device and
  // does not share storage with `flat`.
  static absl::StatusOr<BatchedPolicies> FromFlatTensor(const PolicyShape& shape,
                                                        const torch::Tensor& flat);

  BatchedPolicies(BatchedPolicies&&) = default;
  BatchedPolicies& operator=(BatchedPolicies&&) = default;
  BatchedPolicies(const BatchedPolicies&) = delete;
  BatchedPolicies& operator=(const BatchedPolicies&) = delete;

  // Raw actions [P, B, action_dim] for observations [P, B, obs_dim] (policy p sees obs[p]) or
  // [B, obs_dim] (all policies see the same batch). Differentiable w.r.t. the parameters when
  // they require grad. InvalidArgument on a wrong rank, width, P or dtype/device.
  absl::StatusOr<torch::Tensor> Forward(const torch::Tensor& obs) const;
  // Forward() without the checks, for use inside a CallTorch block. Throws c10::Error.
  torch::Tensor ForwardOrThrow(const torch::Tensor& obs) const;

  // Flat parameters [P, num_params] on the device, detached (a fresh tensor).
  // Throws c10::Error; use inside CallTorch.
  torch::Tensor FlatTensorOrThrow() const;
  // Flat parameters copied to the host, row-major [P, num_params]. Internal on LibTorch failure.
  absl::StatusOr<std::vector<float>> ToFlat() const;

  // Deep copy (same device; requires_grad is not carried over). Internal on LibTorch failure.
  absl::StatusOr<BatchedPolicies> Clone() const;
  // Copies `source`'s values into this object's tensors in place (their identity, hence any
  // optimiser's references to them, is kept). InvalidArgument if shapes or P differ.
  absl::Status CopyFrom(const BatchedPolicies& source);
  // Polyak update in place: this = tau * source + (1 - tau) * this (TD3 target networks).
  // InvalidArgument if shapes or P differ. Throws nothing.
  absl::Status SoftUpdateFrom(const BatchedPolicies& source, double tau);

  // Marks every parameter tensor as (not) requiring grad.
  void set_requires_grad(bool requires_grad);
  // All parameter tensors, layer by layer: W_0, b_0, W_1, b_1, ... (for an optimiser).
  std::vector<torch::Tensor> parameters() const;

  const PolicyShape& shape() const { return shape_; }
  int64_t num_policies() const { return num_policies_; }
  torch::Device device() const { return weights_.front().device(); }
  // weights()[l]: [P, in_l, out_l]; biases()[l]: [P, 1, out_l]; float32, on device().
  const std::vector<torch::Tensor>& weights() const { return weights_; }
  const std::vector<torch::Tensor>& biases() const { return biases_; }

 private:
  BatchedPolicies(PolicyShape shape, Activation hidden, Activation output, int64_t num_policies,
                  std::vector<torch::Tensor> weights, std::vector<torch::Tensor> biases);

  // Checks that `other` has this object's shape and P.
  absl::Status CheckSameLayout(const BatchedPolicies& other) const;

  PolicyShape shape_;
  Activation hidden_activation_;
  Activation output_activation_;
  int64_t num_policies_;
  std::vector<torch::Tensor> weights_;  // per layer [P, in, out]
  std::vector<torch::Tensor> biases_;   // per layer [P, 1, out]
};

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_BATCHED_POLICY_H_
