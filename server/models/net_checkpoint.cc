#include "server/models/net_checkpoint.h"

#include "absl/strings/str_cat.h"

namespace gdaqd::server::models {

void WriteNet(torch::serialize::OutputArchive& archive, const std::string& prefix,
              const BatchedPolicies& net) {
  for (size_t l = 0; l < net.weights().size(); ++l) {
    archive.write(absl::StrCat(prefix, ".w", l), net.weights()[l].detach());
    archive.write(absl::StrCat(prefix, ".b", l), net.biases()[l].detach());
  }
}

absl::Status ReadTensor(torch::serialize::InputArchive& archive, const std::string& key,
                        const torch::Tensor& destination, std::vector<PendingCopy>& pending) {
  torch::Tensor source;
  if (!archive.try_read(key, source) || source.sizes() != destination.sizes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tensor ", key, " is missing or has the wrong shape"));
  }
  pending.push_back({source, destination});
  return absl::OkStatus();
}

absl::Status ReadNet(torch::serialize::InputArchive& archive, const std::string& prefix,
                     const BatchedPolicies& net, std::vector<PendingCopy>& pending) {
  for (size_t l = 0; l < net.weights().size(); ++l) {
    if (absl::Status s =
            ReadTensor(archive, absl::StrCat(prefix, ".w", l), net.weights()[l], pending);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            ReadTensor(archive, absl::StrCat(prefix, ".b", l), net.biases()[l], pending);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void ApplyPendingCopies(const std::vector<PendingCopy>& pending) {
  torch::NoGradGuard no_grad;
  for (const PendingCopy& copy : pending) copy.destination.copy_(copy.source);
}

void WriteOptimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                    const torch::optim::Adam& optimizer) {
  torch::serialize::OutputArchive inner(archive.compilation_unit());
  optimizer.save(inner);
  archive.write(key, inner);
}

void ReadOptimizer(torch::serialize::InputArchive& archive, const std::string& key,
                   torch::optim::Adam& optimizer) {
  torch::serialize::InputArchive inner;
  archive.read(key, inner);
  optimizer.load(inner);
}

}  // namespace gdaqd::server::models
