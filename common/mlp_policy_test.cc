#include "common/mlp_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

// Eigen's vectorised tanh/logistic differ from libm by a few ulp.
constexpr float kForwardTolerance = 1e-6f;

// 2 -> 3 -> 1 with hand-picked weights. Flat layout: W0 [2, 3] row-major, b0 [3], W1 [3, 1],
// b1 [1].
MlpLayout TinyLayout(Activation hidden, Activation output) {
  MlpLayout layout;
  layout.obs_dim = 2;
  layout.hidden_sizes = {3};
  layout.action_dim = 1;
  layout.hidden_activation = hidden;
  layout.output_activation = output;
  return layout;
}
const std::vector<float> kTinyParams = {
    1.0f,  -1.0f, 0.5f,   // W0[0, :]
    2.0f,  0.5f,  -1.0f,  // W0[1, :]
    2.0f,  -0.2f, 0.3f,   // b0
    1.0f,  -2.0f, 0.5f,   // W1[:, 0]
    0.25f,                // b1
};
const std::vector<float> kTinyObs = {0.5f, -1.0f};
// x @ W0 + b0 by hand: (0.5 - 2 + 2, -0.5 - 0.5 - 0.2, 0.25 + 1 + 0.3).
constexpr float kTinyHidden[3] = {0.5f, -1.2f, 1.55f};

float TinyAct(Activation hidden, Activation output) {
  absl::StatusOr<MlpPolicy> policy = MlpPolicy::Create(TinyLayout(hidden, output), kTinyParams);
  EXPECT_TRUE(policy.ok()) << policy.status();
  float action = 0;
  policy->Act(kTinyObs, absl::MakeSpan(&action, 1));
  return action;
}

float Swish(float x) { return x / (1.0f + std::exp(-x)); }

TEST(ParseActivationTest, AcceptsTheFourNames) {
  EXPECT_THAT(ParseActivation("relu"), IsOkAndHolds(Activation::kRelu));
  EXPECT_THAT(ParseActivation("tanh"), IsOkAndHolds(Activation::kTanh));
  EXPECT_THAT(ParseActivation("swish"), IsOkAndHolds(Activation::kSwish));
  EXPECT_THAT(ParseActivation("identity"), IsOkAndHolds(Activation::kIdentity));
}

TEST(ParseActivationTest, RejectsUnknownName) {
  EXPECT_THAT(ParseActivation("ReLU"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown activation 'ReLU'")));
}

TEST(MlpLayoutTest, NumParamsIsSumOfWeightsAndBiases) {
  MlpLayout layout{.obs_dim = 29, .hidden_sizes = {64, 64}, .action_dim = 8};
  EXPECT_EQ(layout.num_params(), (29 * 64 + 64) + (64 * 64 + 64) + (64 * 8 + 8));
  EXPECT_EQ(TinyLayout(Activation::kRelu, Activation::kTanh).num_params(), 13);
}

TEST(MlpLayoutTest, NumParamsWithoutHiddenLayers) {
  MlpLayout layout{.obs_dim = 3, .hidden_sizes = {}, .action_dim = 2};
  EXPECT_EQ(layout.num_params(), 3 * 2 + 2);
}

TEST(MlpLayoutTest, ValidateNamesTheBadField) {
  EXPECT_THAT((MlpLayout{.obs_dim = 0, .hidden_sizes = {4}, .action_dim = 1}).Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_dim is 0")));
  EXPECT_THAT((MlpLayout{.obs_dim = 2, .hidden_sizes = {4, 0}, .action_dim = 1}).Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hidden_sizes[1] is 0")));
  EXPECT_THAT((MlpLayout{.obs_dim = 2, .hidden_sizes = {4}, .action_dim = -1}).Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action_dim is -1")));
}

TEST(MlpPolicyTest, ReluHiddenTanhOutputMatchesHandComputation) {
  // relu(h) = (0.5, 0, 1.55); 0.5 * 1 + 0 * -2 + 1.55 * 0.5 + 0.25 = 1.525.
  EXPECT_NEAR(TinyAct(Activation::kRelu, Activation::kTanh), std::tanh(1.525f), kForwardTolerance);
}

TEST(MlpPolicyTest, IdentityHiddenSwishOutputMatchesHandComputation) {
  // 0.5 * 1 + -1.2 * -2 + 1.55 * 0.5 + 0.25 = 3.925.
  EXPECT_NEAR(TinyAct(Activation::kIdentity, Activation::kSwish), Swish(3.925f), kForwardTolerance);
}

TEST(MlpPolicyTest, TanhHiddenIdentityOutputMatchesHandComputation) {
  const float expected = std::tanh(kTinyHidden[0]) * 1.0f + std::tanh(kTinyHidden[1]) * -2.0f +
                         std::tanh(kTinyHidden[2]) * 0.5f + 0.25f;
  EXPECT_NEAR(TinyAct(Activation::kTanh, Activation::kIdentity), expected, kForwardTolerance);
}

TEST(MlpPolicyTest, SwishHiddenReluOutputMatchesHandComputation) {
  const float expected =
      std::max(0.0f, Swish(kTinyHidden[0]) * 1.0f + Swish(kTinyHidden[1]) * -2.0f +
                         Swish(kTinyHidden[2]) * 0.5f + 0.25f);
  EXPECT_NEAR(TinyAct(Activation::kSwish, Activation::kRelu), expected, kForwardTolerance);
}

TEST(MlpPolicyTest, WeightsAreRowMajorInputByOutput) {
  // W = [[1, 2], [3, 4]] (W[i, j] at i * 2 + j), b = (0.5, -0.5), x = (1, -1):
  // x @ W + b = (1 - 3 + 0.5, 2 - 4 - 0.5). Column-major storage would give (-0.5, -1.5).
  MlpLayout layout{.obs_dim = 2,
                   .hidden_sizes = {},
                   .action_dim = 2,
                   .output_activation = Activation::kIdentity};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy,
                             MlpPolicy::Create(layout, {1.0f, 2.0f, 3.0f, 4.0f, 0.5f, -0.5f}));
  std::vector<float> action(2);
  policy.Act({1.0f, -1.0f}, absl::MakeSpan(action));
  EXPECT_THAT(action, ::testing::ElementsAre(-1.5f, -2.5f));
}

TEST(MlpPolicyTest, NarrowingLayerWeightsAreRowMajorInputByOutput) {
  // in > out uses the dot-product kernel. W = [[1, 2], [3, 4], [5, 6]], x = (1, -1, 2):
  // x @ W = (1 - 3 + 10, 2 - 4 + 12). Column-major storage would give y0 = 1 - 2 + 6.
  MlpLayout layout{.obs_dim = 3,
                   .hidden_sizes = {},
                   .action_dim = 2,
                   .output_activation = Activation::kIdentity};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, {1.0f, 2.0f, 3.0f, 4.0f,
                                                                          5.0f, 6.0f, 0.0f, 0.0f}));
  std::vector<float> action(2);
  policy.Act({1.0f, -1.0f, 2.0f}, absl::MakeSpan(action));
  EXPECT_THAT(action, ::testing::ElementsAre(8.0f, 10.0f));
}

TEST(MlpPolicyTest, SwishOfLargeNegativeInputIsFinite) {
  MlpLayout layout{
      .obs_dim = 1, .hidden_sizes = {}, .action_dim = 1, .output_activation = Activation::kSwish};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, {1.0f, 0.0f}));
  float action = 1.0f;
  policy.Act({-200.0f}, absl::MakeSpan(&action, 1));
  EXPECT_TRUE(std::isfinite(action));
  EXPECT_NEAR(action, 0.0f, kForwardTolerance);
}

TEST(MlpPolicyTest, CreateRejectsWrongParameterCount) {
  std::vector<float> params = kTinyParams;
  params.pop_back();
  EXPECT_THAT(
      MlpPolicy::Create(TinyLayout(Activation::kRelu, Activation::kTanh), params),
      StatusIs(absl::StatusCode::kInvalidArgument, "policy has 12 parameters, layout expects 13"));
}

TEST(MlpPolicyTest, CreateRejectsNonFiniteParameter) {
  std::vector<float> params = kTinyParams;
  params[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(MlpPolicy::Create(TinyLayout(Activation::kRelu, Activation::kTanh), params),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameter 4 is nan")));
  params[4] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(MlpPolicy::Create(TinyLayout(Activation::kRelu, Activation::kTanh), params),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameter 4 is inf")));
}

TEST(MlpPolicyTest, CreateRejectsInvalidLayout) {
  MlpLayout layout = TinyLayout(Activation::kRelu, Activation::kTanh);
  layout.hidden_sizes = {0};
  EXPECT_THAT(MlpPolicy::Create(layout, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hidden_sizes[0]")));
}

TEST(MlpPolicyTest, SetParamsRetargetsThePolicy) {
  const MlpLayout layout = TinyLayout(Activation::kRelu, Activation::kIdentity);
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy,
                             MlpPolicy::Create(layout, std::vector<float>(13, 0.0f)));
  float action = 1.0f;
  policy.Act(kTinyObs, absl::MakeSpan(&action, 1));
  EXPECT_EQ(action, 0.0f);
  GDAQD_ASSERT_OK(policy.SetParams(kTinyParams));
  policy.Act(kTinyObs, absl::MakeSpan(&action, 1));
  EXPECT_NEAR(action, 1.525f, kForwardTolerance);
}

TEST(MlpPolicyTest, FailedSetParamsKeepsOldParameters) {
  const MlpLayout layout = TinyLayout(Activation::kRelu, Activation::kIdentity);
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, kTinyParams));
  std::vector<float> bad = kTinyParams;
  bad[12] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(policy.SetParams(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameter 12 is inf")));
  EXPECT_THAT(
      policy.SetParams(std::vector<float>(14)),
      StatusIs(absl::StatusCode::kInvalidArgument, "policy has 14 parameters, layout expects 13"));
  float action = 0.0f;
  policy.Act(kTinyObs, absl::MakeSpan(&action, 1));
  EXPECT_NEAR(action, 1.525f, kForwardTolerance);
}

TEST(InitLecunUniformTest, WeightsWithinFanInBoundsAndBiasesZero) {
  const MlpLayout layout{.obs_dim = 5, .hidden_sizes = {64, 32}, .action_dim = 3};
  std::vector<float> params(layout.num_params());
  InitLecunUniform(layout, 42, absl::MakeSpan(params));
  const int sizes[] = {5, 64, 32, 3};
  size_t offset = 0;
  for (int l = 0; l < 3; ++l) {
    const int in = sizes[l];
    const int out = sizes[l + 1];
    const float limit = static_cast<float>(std::sqrt(3.0 / in));
    float max_abs = 0;
    for (int k = 0; k < in * out; ++k) {
      const float w = params[offset++];
      EXPECT_GE(w, -limit);
      EXPECT_LT(w, limit);
      max_abs = std::max(max_abs, std::abs(w));
    }
    // With >= 15 draws the largest |w| is near the bound, so the scale is sqrt(3 / fan_in).
    EXPECT_GT(max_abs, 0.75f * limit) << "layer " << l;
    for (int j = 0; j < out; ++j) EXPECT_EQ(params[offset++], 0.0f) << "layer " << l;
  }
  EXPECT_EQ(offset, params.size());
}

TEST(InitLecunUniformTest, DeterministicInSeed) {
  const MlpLayout layout{.obs_dim = 2, .hidden_sizes = {16}, .action_dim = 2};
  std::vector<float> a(layout.num_params()), b(layout.num_params()), c(layout.num_params());
  InitLecunUniform(layout, 7, absl::MakeSpan(a));
  InitLecunUniform(layout, 7, absl::MakeSpan(b));
  InitLecunUniform(layout, 8, absl::MakeSpan(c));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace gdaqd::common
