// Checkpoint pieces shared by the learners (Td3, Sac): a BatchedPolicies network's tensors and an
// Adam state in a torch::serialize archive, read in two phases so that a checkpoint whose shapes
// do not match changes nothing. Thread-compatible (the caller owns the archive and networks).
#ifndef GDAQD_SERVER_MODELS_NET_CHECKPOINT_H_
#define GDAQD_SERVER_MODELS_NET_CHECKPOINT_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/models/batched_policy.h"

namespace gdaqd::server::models {

// Writes every layer's weight and bias of `net`, layer by layer, under "<prefix>.w<l>" and
// "<prefix>.b<l>".
void WriteNet(torch::serialize::OutputArchive& archive, const std::string& prefix,
              const BatchedPolicies& net);

// A checkpoint tensor and the parameter it will be copied into.
struct PendingCopy {
  torch::Tensor source;
  torch::Tensor destination;
};

// Appends `key` to `pending` if the archive has it with `destination`'s shape, writing nothing;
// InvalidArgument("checkpoint tensor <key> is missing or has the wrong shape") otherwise.
absl::Status ReadTensor(torch::serialize::InputArchive& archive, const std::string& key,
                        const torch::Tensor& destination, std::vector<PendingCopy>& pending);

// ReadTensor for each of WriteNet's tensors of `net`.
absl::Status ReadNet(torch::serialize::InputArchive& archive, const std::string& prefix,
                     const BatchedPolicies& net, std::vector<PendingCopy>& pending);

// Whether `a` is defined and has `b`'s sizes and element type (a checkpoint tensor against what
// it will replace).
bool SameShapeAndType(const torch::Tensor& a, const torch::Tensor& b);

// Copies every pending source into its destination in place (so optimisers keep referring to
// the same parameter tensors), without recording gradients.
void ApplyPendingCopies(const std::vector<PendingCopy>& pending);

// An Adam state as a nested archive under `key`, keyed by each parameter's index in the
// optimizer's parameter groups (not by its address, as Adam::save keys it), so that the same
// state always writes the same bytes: "num_params", and for each parameter i that has taken a
// step "p<i>.step", "p<i>.exp_avg", "p<i>.exp_avg_sq" (and "p<i>.max_exp_avg_sq" with amsgrad).
// Hyper-parameters are not written: they come from the config the optimizer is rebuilt from.
void WriteOptimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                    const torch::optim::Adam& optimizer);

// An Adam state read and checked against its optimizer's parameters but not installed.
struct PendingOptimizer {
  torch::optim::Adam* optimizer = nullptr;
  // One per parameter in parameter-group order; null: the parameter has no state yet.
  std::vector<std::unique_ptr<torch::optim::AdamParamState>> states;
};

// Reads WriteOptimizer's state under `key` for `optimizer` into `pending`, changing nothing.
// Also reads the form Adam::save wrote before (the checkpoints of earlier versions). An
// InvalidArgument names the key when it is missing, has another parameter count, or a moment
// whose shape is not its parameter's. Throws c10::Error on archive faults; callers run it inside
// CallTorch.
absl::Status ReadOptimizer(torch::serialize::InputArchive& archive, const std::string& key,
                           torch::optim::Adam& optimizer, std::vector<PendingOptimizer>& pending);

// Installs every pending state into its optimizer (replacing the state it had).
void ApplyPendingOptimizers(std::vector<PendingOptimizer>& pending);

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_NET_CHECKPOINT_H_
