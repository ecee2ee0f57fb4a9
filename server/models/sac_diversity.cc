#include "server/models/sac_diversity.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {

const char* DiversityModeName(DiversityMode mode) {
  switch (mode) {
    case DiversityMode::kNone:
      return "none";
    case DiversityMode::kDiayn:
      return "diayn";
    case DiversityMode::kSmerl:
      return "smerl";
  }
  return "unknown";
}

torch::Tensor LecunUniformFlatOrThrow(const PolicyShape& shape, int64_t num_policies,
                                      at::Generator& generator) {
  // No lock here: LibTorch's random kernels take the generator's mutex themselves.
  const std::vector<int> sizes = shape.sizes();
  std::vector<torch::Tensor> pieces;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double limit = std::sqrt(3.0 / sizes[l]);
    pieces.push_back(
        (torch::rand({num_policies, int64_t{sizes[l]} * sizes[l + 1]}, generator) * 2 - 1) * limit);
    pieces.push_back(torch::zeros({num_policies, int64_t{sizes[l + 1]}}));
  }
  return torch::cat(pieces, 1);
}

SkillDiscriminator::SkillDiscriminator(int num_skills, BatchedPolicies network,
                                       double learning_rate)
    : num_skills_(num_skills), network_(std::move(network)) {
  network_.set_requires_grad(true);
  optimizer_ = std::make_unique<torch::optim::Adam>(network_.parameters(),
                                                    torch::optim::AdamOptions(learning_rate));
}

absl::StatusOr<std::unique_ptr<SkillDiscriminator>> SkillDiscriminator::Create(
    int num_skills, const std::vector<int>& hidden, double learning_rate, torch::Device device,
    at::Generator& generator) {
  if (num_skills < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_skills is ", num_skills));
  }
  PolicyShape shape{.obs_dim = kSkillDescriptorDim,
                    .hidden = hidden,
                    .action_dim = num_skills,
                    .hidden_activation = "relu",
                    .output_activation = "identity"};
  if (absl::Status s = shape.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("discriminator_", s.message()));
  }
  return CallTorch("SkillDiscriminator::Create",
                   [&]() -> absl::StatusOr<std::unique_ptr<SkillDiscriminator>> {
                     absl::StatusOr<BatchedPolicies> network = BatchedPolicies::FromFlatTensor(
                         shape, LecunUniformFlatOrThrow(shape, 1, generator).to(device));
                     if (!network.ok()) return network.status();
                     return std::unique_ptr<SkillDiscriminator>(
                         new SkillDiscriminator(num_skills, *std::move(network), learning_rate));
                   });
}

torch::Tensor SkillDiscriminator::LogProbsOrThrow(const torch::Tensor& descriptors) const {
  return torch::log_softmax(network_.ForwardOrThrow(descriptors)[0], 1);
}

torch::Tensor SkillDiscriminator::IntrinsicRewardOrThrow(const torch::Tensor& descriptors,
                                                         const torch::Tensor& skills) const {
  torch::NoGradGuard no_grad;
  return LogProbsOrThrow(descriptors).gather(1, skills.unsqueeze(1)) +
         std::log(static_cast<double>(num_skills_));
}

torch::Tensor SkillDiscriminator::LossOrThrow(const torch::Tensor& descriptors,
                                              const torch::Tensor& skills) const {
  return -LogProbsOrThrow(descriptors).gather(1, skills.unsqueeze(1)).mean();
}

torch::Tensor SkillDiscriminator::StepOrThrow(const torch::Tensor& descriptors,
                                              const torch::Tensor& skills) {
  const torch::Tensor loss = LossOrThrow(descriptors, skills);
  optimizer_->zero_grad();
  loss.backward();
  optimizer_->step();
  return loss.detach();
}

torch::Tensor ShapedRewardOrThrow(const DiversityConfig& config, const torch::Tensor& task_reward,
                                  const torch::Tensor& intrinsic,
                                  const torch::Tensor& trajectory_return, torch::Tensor* gate) {
  switch (config.mode) {
    case DiversityMode::kNone:
      if (gate != nullptr) *gate = torch::zeros_like(task_reward);
      return task_reward;
    case DiversityMode::kDiayn:
      if (gate != nullptr) *gate = torch::ones_like(task_reward);
      return intrinsic;
    case DiversityMode::kSmerl: {
      const float threshold = static_cast<float>(config.smerl_target - config.smerl_margin);
      const torch::Tensor open = trajectory_return.ge(threshold).to(task_reward.scalar_type());
      if (gate != nullptr) *gate = open;
      return task_reward + open * config.diversity_reward_scale * intrinsic;
    }
  }
  return task_reward;
}

}  // namespace gdaqd::server::models
