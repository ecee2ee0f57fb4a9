#include "server/models/batched_policy.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

// baddbmm/OpenBLAS vs Eigen, float32 accumulation in a different order.
constexpr float kEigenTolerance = 1e-5f;

PolicyShape AntShape(const std::string& hidden_activation) {
  PolicyShape shape;
  shape.obs_dim = 29;
  shape.hidden = {64, 64};
  shape.action_dim = 8;
  shape.hidden_activation = hidden_activation;
  shape.output_activation = "tanh";
  return shape;
}

common::MlpLayout ToLayout(const PolicyShape& shape) {
  common::MlpLayout layout;
  layout.obs_dim = shape.obs_dim;
  layout.hidden_sizes = shape.hidden;
  layout.action_dim = shape.action_dim;
  layout.hidden_activation = *common::ParseActivation(shape.hidden_activation);
  layout.output_activation = *common::ParseActivation(shape.output_activation);
  return layout;
}

// P lecun_uniform policies (common::InitLecunUniform, one seed each) with every parameter
// perturbed by U(-0.1, 0.1) so that the biases are not zero.
std::vector<float> RandomPolicies(const PolicyShape& shape, int64_t p, uint64_t seed) {
  const int64_t n = shape.num_params();
  std::vector<float> flat(static_cast<size_t>(p * n));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> noise(-0.1f, 0.1f);
  for (int64_t i = 0; i < p; ++i) {
    absl::Span<float> row = absl::MakeSpan(flat).subspan(i * n, n);
    common::InitLecunUniform(ToLayout(shape), seed * 1000 + i, row);
    for (float& v : row) v += noise(rng);
  }
  return flat;
}

std::vector<float> RandomObs(int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> obs(static_cast<size_t>(count));
  for (float& v : obs) v = normal(rng);
  return obs;
}

class MatchesEigenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MatchesEigenTest, SameActionsAsMlpPolicyAct) {
  const PolicyShape shape = AntShape(GetParam());
  constexpr int64_t kP = 5;
  constexpr int64_t kB = 7;
  const std::vector<float> flat = RandomPolicies(shape, kP, 3);
  std::vector<float> obs = RandomObs(kP * kB * shape.obs_dim, 4);
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies policies,
                             BatchedPolicies::FromFlat(shape, flat, torch::kCPU));
  const torch::Tensor obs_tensor =
      torch::from_blob(obs.data(), {kP, kB, shape.obs_dim}, torch::kFloat32);
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor actions, policies.Forward(obs_tensor));
  ASSERT_EQ(actions.sizes(), torch::IntArrayRef({kP, kB, shape.action_dim}));
  // Shared batch [B, obs]: every policy sees the observations of policy 0.
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor shared, policies.Forward(obs_tensor[0]));

  float max_diff = 0;
  float max_diff_shared = 0;
  std::vector<float> expected(static_cast<size_t>(shape.action_dim));
  for (int64_t p = 0; p < kP; ++p) {
    GDAQD_ASSERT_OK_AND_ASSIGN(
        common::MlpPolicy eigen,
        common::MlpPolicy::Create(
            ToLayout(shape),
            absl::MakeConstSpan(flat).subspan(p * shape.num_params(), shape.num_params())));
    for (int64_t b = 0; b < kB; ++b) {
      for (int64_t source : {p, int64_t{0}}) {
        eigen.Act(
            absl::MakeConstSpan(obs).subspan((source * kB + b) * shape.obs_dim, shape.obs_dim),
            absl::MakeSpan(expected));
        const torch::Tensor got = source == p ? actions[p][b] : shared[p][b];
        for (int j = 0; j < shape.action_dim; ++j) {
          const float diff = std::abs(got[j].item<float>() - expected[j]);
          (source == p ? max_diff : max_diff_shared) =
              std::max(source == p ? max_diff : max_diff_shared, diff);
        }
      }
    }
  }
  EXPECT_LE(max_diff, kEigenTolerance);
  EXPECT_LE(max_diff_shared, kEigenTolerance);
}

INSTANTIATE_TEST_SUITE_P(HiddenActivations, MatchesEigenTest,
                         ::testing::Values("relu", "tanh", "swish"));

TEST(BatchedPoliciesTest, FlatRoundTripIsExact) {
  const PolicyShape shape = AntShape("relu");
  const std::vector<float> flat = RandomPolicies(shape, 3, 11);
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies policies,
                             BatchedPolicies::FromFlat(shape, flat, torch::kCPU));
  EXPECT_EQ(policies.num_policies(), 3);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> back, policies.ToFlat());
  EXPECT_EQ(back, flat);
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies copy, policies.Clone());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> copy_flat, copy.ToFlat());
  EXPECT_EQ(copy_flat, flat);
}

TEST(BatchedPoliciesTest, LayerTensorsFollowTheFlatLayout) {
  // 2 -> 3 -> 1: W0 [2, 3] row-major at 0, b0 at 6, W1 [3, 1] at 9, b1 at 12. Two policies.
  PolicyShape shape{.obs_dim = 2, .hidden = {3}, .action_dim = 1};
  ASSERT_EQ(shape.num_params(), 13);
  std::vector<float> flat(26);
  for (size_t i = 0; i < flat.size(); ++i) flat[i] = static_cast<float>(i);
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies policies,
                             BatchedPolicies::FromFlat(shape, flat, torch::kCPU));
  EXPECT_EQ(policies.weights()[0][1][1][2].item<float>(), 13 + 1 * 3 + 2);  // W0[1, 2] of p = 1
  EXPECT_EQ(policies.biases()[0][0][0][1].item<float>(), 6 + 1);            // b0[1] of p = 0
  EXPECT_EQ(policies.weights()[1][1][2][0].item<float>(), 13 + 9 + 2);      // W1[2, 0] of p = 1
  EXPECT_EQ(policies.biases()[1][0][0][0].item<float>(), 12);               // b1 of p = 0
}

TEST(BatchedPoliciesTest, HandComputedIdentityLayer) {
  // y = x @ W + b, W = [[1, 2], [3, 4]], b = [0.5, -0.5], x = [1, -1] -> [-1.5, -2.5].
  PolicyShape shape{.obs_dim = 2, .hidden = {}, .action_dim = 2, .output_activation = "identity"};
  const std::vector<float> flat = {1, 2, 3, 4, 0.5f, -0.5f};
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies policies,
                             BatchedPolicies::FromFlat(shape, flat, torch::kCPU));
  GDAQD_ASSERT_OK_AND_ASSIGN(torch::Tensor y, policies.Forward(torch::tensor({{1.0f, -1.0f}})));
  EXPECT_FLOAT_EQ(y[0][0][0].item<float>(), -1.5f);
  EXPECT_FLOAT_EQ(y[0][0][1].item<float>(), -2.5f);
}

TEST(BatchedPoliciesTest, RejectsBadInputs) {
  const PolicyShape shape = AntShape("relu");
  EXPECT_THAT(BatchedPolicies::FromFlat(shape, std::vector<float>(10), torch::kCPU),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a positive multiple")));
  EXPECT_THAT(BatchedPolicies::FromFlat(shape, {}, torch::kCPU),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a positive multiple")));
  PolicyShape bad = shape;
  bad.hidden_activation = "gelu";
  EXPECT_THAT(BatchedPolicies::FromFlat(bad, std::vector<float>(shape.num_params()), torch::kCPU),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hidden_activation")));
  bad = shape;
  bad.hidden = {64, 0};
  EXPECT_THAT(bad.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hidden[1]")));

  GDAQD_ASSERT_OK_AND_ASSIGN(
      BatchedPolicies policies,
      BatchedPolicies::FromFlat(shape, RandomPolicies(shape, 2, 1), torch::kCPU));
  EXPECT_THAT(policies.Forward(torch::zeros({2, 4, 28})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs must be float32")));
  EXPECT_THAT(policies.Forward(torch::zeros({3, 4, 29})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs must be float32")));
  EXPECT_THAT(policies.Forward(torch::zeros({4, 29}, torch::kFloat64)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs must be float32")));
}

TEST(BatchedPoliciesTest, SoftUpdateAndCopyFrom) {
  PolicyShape shape{.obs_dim = 3, .hidden = {4}, .action_dim = 2};
  const std::vector<float> a = RandomPolicies(shape, 2, 21);
  const std::vector<float> b = RandomPolicies(shape, 2, 22);
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies target,
                             BatchedPolicies::FromFlat(shape, a, torch::kCPU));
  GDAQD_ASSERT_OK_AND_ASSIGN(BatchedPolicies source,
                             BatchedPolicies::FromFlat(shape, b, torch::kCPU));
  GDAQD_ASSERT_OK(target.SoftUpdateFrom(source, 0.25));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> mixed, target.ToFlat());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(mixed[i], 0.25f * b[i] + 0.75f * a[i], 1e-7f);
  GDAQD_ASSERT_OK(target.CopyFrom(source));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<float> copied, target.ToFlat());
  EXPECT_EQ(copied, b);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      BatchedPolicies one,
      BatchedPolicies::FromFlat(shape, RandomPolicies(shape, 1, 3), torch::kCPU));
  EXPECT_THAT(target.CopyFrom(one), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

// Runs `steps` Adam steps on the sum over policies of mean(||pi_p(obs) - 0.5||^2).
std::vector<float> OptimiseTogether(const PolicyShape& shape, const std::vector<float>& flat,
                                    const torch::Tensor& obs, int steps) {
  absl::StatusOr<BatchedPolicies> policies = BatchedPolicies::FromFlat(shape, flat, torch::kCPU);
  EXPECT_TRUE(policies.ok());
  policies->set_requires_grad(true);
  torch::optim::Adam adam(policies->parameters(), torch::optim::AdamOptions(1e-2));
  for (int i = 0; i < steps; ++i) {
    const torch::Tensor loss = (policies->ForwardOrThrow(obs) - 0.5).square().mean({1, 2}).sum();
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  return *policies->ToFlat();
}

TEST(BatchedPoliciesTest, StackedAdamEqualsOneFreshAdamPerPolicy) {
  torch::manual_seed(0);
  PolicyShape shape{.obs_dim = 5, .hidden = {16, 16}, .action_dim = 3};
  const int64_t n = shape.num_params();
  const std::vector<float> flat = RandomPolicies(shape, 3, 5);
  const torch::Tensor obs = torch::randn({32, 5});
  const std::vector<float> together = OptimiseTogether(shape, flat, obs, 20);
  ASSERT_NE(together, flat);
  for (int64_t p = 0; p < 3; ++p) {
    const std::vector<float> alone_in(flat.begin() + p * n, flat.begin() + (p + 1) * n);
    const std::vector<float> alone = OptimiseTogether(shape, alone_in, obs, 20);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(together[p * n + i], alone[i], 1e-6f) << "policy " << p << " param " << i;
    }
  }
}

}  // namespace
}  // namespace gdaqd::server::models
