// ImagineEpisodes' CPU loop (host policy kernel + the ensemble's fused stepper) against its
// LibTorch loop (the GPU path, and what ran on the CPU before the host kernels): same policies,
// same members, same generator seed must give the same imagined episodes to float rounding.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "server/models/dynamics_ensemble.h"
#include "server/models/imagination.h"
#include "server/models/torch_util.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

constexpr int kObsDim = 4;
constexpr int kActionDim = 2;

// reward = -|next_obs|^2, ends when next_obs[0] > 0.8; descriptor = obs[0..1] clipped to [-1, 1].
class QuadraticTask final : public ImaginedTask {
 public:
  int descriptor_dim() const override { return 2; }
  void Step(absl::Span<const float> /*obs*/, absl::Span<const float> /*actions*/,
            absl::Span<const float> next_obs, absl::Span<float> reward,
            absl::Span<uint8_t> terminated) const override {
    for (size_t b = 0; b < reward.size(); ++b) {
      float sum = 0;
      for (int k = 0; k < kObsDim; ++k)
        sum += next_obs[b * kObsDim + k] * next_obs[b * kObsDim + k];
      reward[b] = -sum;
      terminated[b] = next_obs[b * kObsDim] > 0.8f ? 1 : 0;
    }
  }
  void Descriptor(absl::Span<const float> obs, absl::Span<float> out) const override {
    for (size_t b = 0; b < out.size() / 2; ++b) {
      for (int d = 0; d < 2; ++d) out[2 * b + d] = std::clamp(obs[b * kObsDim + d], -1.0f, 1.0f);
    }
  }
};

// An ensemble fitted briefly to a stable linear system (next = 0.9 obs + 0.1 mixed actions).
std::unique_ptr<DynamicsEnsemble> FittedEnsemble() {
  EnsembleConfig config;
  config.members = 3;
  config.hidden = {48, 48};
  config.max_steps = 100;
  config.batch_size = 64;
  config.device = "cpu";
  config.seed = 3;
  auto ensemble = DynamicsEnsemble::Create(kObsDim, kActionDim, config);
  EXPECT_TRUE(ensemble.ok()) << ensemble.status();
  constexpr int kRow = 2 * kObsDim + kActionDim + 3;
  std::mt19937_64 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> rows(2000 * kRow, 0.0f);
  for (int r = 0; r < 2000; ++r) {
    float* x = &rows[r * kRow];
    for (int k = 0; k < kObsDim + kActionDim; ++k) x[k] = normal(rng);
    for (int k = 0; k < kObsDim; ++k) {
      x[kObsDim + kActionDim + 1 + k] = 0.9f * x[k] + 0.1f * x[kObsDim + k % kActionDim];
    }
  }
  EXPECT_TRUE((*ensemble)->Train(rows, rng).ok());
  return *std::move(ensemble);
}

TEST(HostImaginationTest, HostLoopMatchesTorchLoopForTheSameSeed) {
  SetTorchThreads(1);
  const std::unique_ptr<DynamicsEnsemble> ensemble = FittedEnsemble();
  const QuadraticTask task;
  PolicyShape shape{kObsDim, {32, 32}, kActionDim, "relu", "tanh"};
  constexpr int kPolicies = 11;  // uneven groups: padding slots in every member but one
  at::Generator init = at::detail::createCPUGenerator(9);
  const torch::Tensor flat = torch::randn({kPolicies * shape.num_params()}, init) * 0.3;
  const std::vector<float> params(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  std::vector<int32_t> member(kPolicies);
  for (int i = 0; i < kPolicies; ++i) member[i] = (i * 5) % 3 == 2 && i > 6 ? 0 : (i * 5) % 3;
  const std::vector<float> start = {0.1f, -0.2f, 0.3f, 0.0f};
  for (bool sample : {false, true}) {
    ImaginationRequest request;
    request.shape = shape;
    request.params = params;
    request.member = member;
    request.initial_obs = start;
    request.episode_length = 60;
    request.sample = sample;
    request.terminate = true;
    request.host_kernels = true;
    GDAQD_ASSERT_OK_AND_ASSIGN(
        ImaginedEpisodes host,
        ImagineEpisodes(*ensemble, task, request, at::detail::createCPUGenerator(17)));
    request.host_kernels = false;
    GDAQD_ASSERT_OK_AND_ASSIGN(
        ImaginedEpisodes torch_loop,
        ImagineEpisodes(*ensemble, task, request, at::detail::createCPUGenerator(17)));
    EXPECT_EQ(host.steps, torch_loop.steps) << "sample " << sample;
    EXPECT_EQ(host.diverged, torch_loop.diverged) << "sample " << sample;
    int terminated_early = 0;
    for (int i = 0; i < kPolicies; ++i) {
      terminated_early += host.steps[i] < request.episode_length;
      EXPECT_NEAR(host.fitness[i], torch_loop.fitness[i],
                  1e-4 * (1 + std::abs(torch_loop.fitness[i])))
          << "sample " << sample << " policy " << i;
      for (int d = 0; d < 2; ++d) {
        EXPECT_NEAR(host.descriptors[2 * i + d], torch_loop.descriptors[2 * i + d], 1e-4)
            << "sample " << sample << " policy " << i;
      }
    }
    // The comparison covers both ends of a rollout: some stop at the task's rule, some do not.
    EXPECT_GT(terminated_early, 0) << "sample " << sample;
    EXPECT_LT(terminated_early, kPolicies) << "sample " << sample;
  }
}

}  // namespace
}  // namespace gdaqd::server::models
