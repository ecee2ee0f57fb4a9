#include "server/models/host_mlp.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "server/models/batched_policy.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {
namespace {

struct Case {
  PolicyShape shape;
  const char* name;
};

std::vector<Case> Cases() {
  return {{{29, {64, 64}, 8, "relu", "tanh"}, "ant_policy"},
          {{2, {64, 64}, 2, "relu", "tanh"}, "point_maze_policy"},
          {{7, {70, 3}, 17, "swish", "identity"}, "odd_widths"},
          {{5, {}, 130, "tanh", "swish"}, "one_wide_layer"},
          {{3, {16}, 1, "identity", "relu"}, "relu_output"}};
}

// Uniform values in [-scale, scale] from a fixed seed.
std::vector<float> Uniform(int64_t n, float scale, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const torch::Tensor t = torch::rand({n}, gen) * (2 * scale) - scale;
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + n);
}

class HostMlpTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { SetTorchThreads(1); }
};

TEST_P(HostMlpTest, MatchesTorchBatchedForward) {
  const PolicyShape& shape = GetParam().shape;
  constexpr int kPolicies = 9;
  const int64_t n = shape.num_params();
  const std::vector<float> flat = Uniform(kPolicies * n, 0.5f, 1);
  const std::vector<float> obs = Uniform(kPolicies * shape.obs_dim, 2.0f, 2);
  auto policies = BatchedPolicies::FromFlat(shape, flat, torch::kCPU);
  ASSERT_TRUE(policies.ok()) << policies.status();
  const torch::Tensor x = torch::from_blob(const_cast<float*>(obs.data()),
                                           {kPolicies, 1, shape.obs_dim}, torch::kFloat32);
  auto want = policies->Forward(x);
  ASSERT_TRUE(want.ok()) << want.status();
  const torch::Tensor want_c = want->contiguous();

  std::vector<const float*> params;
  for (int p = 0; p < kPolicies; ++p) params.push_back(flat.data() + p * n);
  std::vector<float> got(kPolicies * shape.action_dim);
  HostMlpForward(shape.sizes(), *ParseActivation(shape.hidden_activation),
                 *ParseActivation(shape.output_activation), params, obs, {}, absl::MakeSpan(got));
  for (size_t i = 0; i < got.size(); ++i) {
    const float w = want_c.data_ptr<float>()[i];
    EXPECT_NEAR(got[i], w, 1e-5f * (1 + std::abs(w))) << GetParam().name << " output " << i;
  }
}

TEST_P(HostMlpTest, InactiveRowsKeepTheirOutputs) {
  const PolicyShape& shape = GetParam().shape;
  constexpr int kPolicies = 4;
  const int64_t n = shape.num_params();
  const std::vector<float> flat = Uniform(kPolicies * n, 0.5f, 3);
  const std::vector<float> obs = Uniform(kPolicies * shape.obs_dim, 1.0f, 4);
  std::vector<const float*> params;
  for (int p = 0; p < kPolicies; ++p) params.push_back(flat.data() + p * n);
  const Activation hidden = *ParseActivation(shape.hidden_activation);
  const Activation output = *ParseActivation(shape.output_activation);
  std::vector<float> all(kPolicies * shape.action_dim);
  HostMlpForward(shape.sizes(), hidden, output, params, obs, {}, absl::MakeSpan(all));
  const std::vector<uint8_t> active = {1, 0, 0, 1};
  std::vector<float> some(all.size(), 123.0f);
  HostMlpForward(shape.sizes(), hidden, output, params, obs, active, absl::MakeSpan(some));
  for (int p = 0; p < kPolicies; ++p) {
    for (int k = 0; k < shape.action_dim; ++k) {
      const size_t i = p * shape.action_dim + k;
      EXPECT_EQ(some[i], active[p] ? all[i] : 123.0f) << p << " " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, HostMlpTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

TEST(HostMlpForwardTest, NonFiniteInputsGiveNonFiniteOutputsAsTorchDoes) {
  const PolicyShape shape{3, {8}, 2, "relu", "identity"};
  const std::vector<float> flat = Uniform(shape.num_params(), 0.5f, 5);
  const std::vector<float> obs = {std::numeric_limits<float>::quiet_NaN(), 0.0f, 0.0f};
  const std::vector<const float*> params = {flat.data()};
  std::vector<float> y(2);
  HostMlpForward(shape.sizes(), Activation::kRelu, Activation::kIdentity, params, obs, {},
                 absl::MakeSpan(y));
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
}

TEST(HostMlpForwardTest, ParseActivationNamesTheBadValue) {
  EXPECT_EQ(*ParseActivation("swish"), Activation::kSwish);
  const absl::StatusOr<Activation> bad = ParseActivation("gelu");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'gelu'"), absl::string_view::npos);
  const std::string isa = HostMlpIsa();
  EXPECT_TRUE(isa == "avx512f" || isa == "avx2" || isa == "default") << isa;
}

}  // namespace
}  // namespace gdaqd::server::models
