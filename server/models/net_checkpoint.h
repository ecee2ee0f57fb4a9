// Checkpoint pieces shared by the learners (Td3, Sac): a BatchedPolicies network's tensors and an
// Adam state in a torch::serialize archive, read in two phases so that a checkpoint whose shapes
// do not match changes nothing. Thread-compatible (the caller owns the archive and networks).
#ifndef GDAQD_SERVER_MODELS_NET_CHECKPOINT_H_
#define GDAQD_SERVER_MODELS_NET_CHECKPOINT_H_

#include <torch/torch.h>

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

// Copies every pending source into its destination in place (so optimisers keep referring to
// the same parameter tensors), without recording gradients.
void ApplyPendingCopies(const std::vector<PendingCopy>& pending);

// An Adam state as a nested archive under `key`, and back. Read throws (c10::Error) on a missing
// key; callers run it inside CallTorch.
void WriteOptimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                    const torch::optim::Adam& optimizer);
void ReadOptimizer(torch::serialize::InputArchive& archive, const std::string& key,
                   torch::optim::Adam& optimizer);

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_NET_CHECKPOINT_H_
