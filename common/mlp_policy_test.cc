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
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

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

// ---------------------------------------------------------------------------------------------
// Policy kinds. The "Doc" cases are also computed by the numpy reference of
// docs/policy_layout.md in python/tests/test_policy.py, against the same expected values.

// Parameter i of the documented test policies: ((7 i) mod 13 - 6) / 8, exact in float.
std::vector<float> DocParams(int64_t n) {
  std::vector<float> params(n);
  for (int64_t i = 0; i < n; ++i) params[i] = static_cast<float>((i * 7) % 13 - 6) / 8.0f;
  return params;
}

// obs 3 ++ one-hot(2) -> 4 (tanh) -> mu [2] ++ rho [2].
MlpLayout DocGaussianLayout() {
  return MlpLayout{.obs_dim = 3,
                   .hidden_sizes = {4},
                   .action_dim = 2,
                   .hidden_activation = Activation::kTanh,
                   .output_activation = Activation::kIdentity,
                   .kind = PolicyKind::kTanhGaussian,
                   .num_skills = 2};
}

TEST(MlpLayoutTest, NumParamsOfEachKind) {
  MlpLayout layout{.obs_dim = 2, .hidden_sizes = {64, 64}, .action_dim = 2};
  EXPECT_EQ(layout.num_params(), 4482);
  layout.num_skills = 5;  // first layer 7 -> 64
  EXPECT_EQ(layout.input_dim(), 7);
  EXPECT_EQ(layout.num_params(), 4482 + 5 * 64);
  layout.kind = PolicyKind::kTanhGaussian;  // last layer 64 -> 4
  layout.output_activation = Activation::kIdentity;
  EXPECT_EQ(layout.output_dim(), 4);
  EXPECT_EQ(layout.num_params(), 4932);  // docs/policy_layout.md's example
  EXPECT_EQ(DocGaussianLayout().num_params(), 5 * 4 + 4 + 4 * 4 + 4);
}

TEST(MlpLayoutTest, ValidateNamesTheBadFieldOfTheKinds) {
  MlpLayout layout = DocGaussianLayout();
  GDAQD_EXPECT_OK(layout.Validate());
  layout.min_std = 0;
  EXPECT_THAT(layout.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("min_std is 0")));
  layout.min_std = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(layout.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("min_std")));
  layout = DocGaussianLayout();
  layout.output_activation = Activation::kTanh;
  EXPECT_THAT(layout.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("output_activation")));
  layout = DocGaussianLayout();
  layout.num_skills = -1;
  EXPECT_THAT(layout.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_skills is -1")));
}

TEST(MlpPolicyTest, SkillOneHotFollowsTheObservation) {
  // obs 1 ++ one-hot(2) -> 1, identity: W = (1, 10, 100), b = 0.5.
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity,
                         .num_skills = 2};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, {1, 10, 100, 0.5f}));
  float action = 0;
  const float obs = 2;
  EXPECT_EQ(policy.skill(), 0);
  policy.Act({&obs, 1}, {&action, 1});
  EXPECT_FLOAT_EQ(action, 2 + 10 + 0.5f);
  GDAQD_ASSERT_OK(policy.SetSkill(1));
  policy.Act({&obs, 1}, {&action, 1});
  EXPECT_FLOAT_EQ(action, 2 + 100 + 0.5f);
  // A bad skill changes nothing.
  EXPECT_THAT(policy.SetSkill(2), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("skill is 2, policy has 2 skills")));
  EXPECT_THAT(policy.SetSkill(-1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("skill is -1")));
  policy.Act({&obs, 1}, {&action, 1});
  EXPECT_FLOAT_EQ(action, 2 + 100 + 0.5f);
}

TEST(MlpPolicyTest, PolicyWithoutSkillsRefusesSetSkill) {
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy,
                             MlpPolicy::Create(TinyLayout(Activation::kRelu, Activation::kTanh),
                                               std::vector<float>(13, 0.0f)));
  EXPECT_THAT(policy.SetSkill(0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy has 0 skills")));
}

TEST(MlpPolicyTest, TanhGaussianActsTanhOfMeanAndSamplesWithSoftplusStd) {
  // obs 1 -> mu, rho, identity: W = (0.5, -1), b = (0.25, 0.5); obs = 2 gives mu = 1.25,
  // rho = -1.5, std = log(1 + e^-1.5) + 0.001.
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity,
                         .kind = PolicyKind::kTanhGaussian};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, {0.5f, -1, 0.25f, 0.5f}));
  const float obs = 2;
  float action = 0;
  policy.Act({&obs, 1}, {&action, 1});
  EXPECT_NEAR(action, std::tanh(1.25), kForwardTolerance);
  const float normal = 0.75f;
  policy.Sample({&obs, 1}, {&normal, 1}, {&action, 1});
  const double sigma = std::log1p(std::exp(-1.5)) + 0.001;
  EXPECT_NEAR(action, std::tanh(1.25 + sigma * 0.75), kForwardTolerance);
  EXPECT_THAT(policy.Forward({&obs, 1}), ElementsAre(1.25f, -1.5f));
}

TEST(MlpPolicyTest, SoftplusOfLargePreStdIsFinite) {
  const MlpLayout layout{.obs_dim = 1,
                         .hidden_sizes = {},
                         .action_dim = 1,
                         .output_activation = Activation::kIdentity,
                         .kind = PolicyKind::kTanhGaussian};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy, MlpPolicy::Create(layout, {0, 0, 0.1f, 200}));
  const float obs = 0;
  const float normal = -1e-3f;
  float action = 0;
  policy.Sample({&obs, 1}, {&normal, 1}, {&action, 1});
  EXPECT_NEAR(action, std::tanh(0.1 - (200 + 0.001) * 1e-3), kForwardTolerance);
}

TEST(MlpPolicyTest, DocSkillGaussianCaseMatchesTheNumpyReference) {
  const MlpLayout layout = DocGaussianLayout();
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy,
                             MlpPolicy::Create(layout, DocParams(layout.num_params())));
  GDAQD_ASSERT_OK(policy.SetSkill(1));
  const std::vector<float> obs = {0.5f, -0.25f, 1.0f};
  EXPECT_THAT(policy.Forward(obs), Pointwise(FloatNear(kForwardTolerance),
                                             std::vector<float>{0.15899497f, -0.19212747f,
                                                                -0.00015923381f, -0.3512817f}));
  std::vector<float> action(2);
  policy.Act(obs, absl::MakeSpan(action));
  EXPECT_THAT(action, Pointwise(FloatNear(kForwardTolerance),
                                std::vector<float>{0.15766862f, -0.18979786f}));
  // episode_noise(7, 3, j) of docs/policy_layout.md (pinned in rollout_test.cc).
  const std::vector<float> normal = {-0.36457267f, -3.1571786f};
  policy.Sample(obs, normal, absl::MakeSpan(action));
  EXPECT_THAT(action, Pointwise(FloatNear(kForwardTolerance),
                                std::vector<float>{-0.093766809f, -0.95427769f}));
}

TEST(MlpPolicyTest, DocSkillDeterministicCaseMatchesTheNumpyReference) {
  // obs 2 ++ one-hot(3) -> 3 (relu) -> 2 (tanh), skill 2.
  const MlpLayout layout{.obs_dim = 2, .hidden_sizes = {3}, .action_dim = 2, .num_skills = 3};
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpPolicy policy,
                             MlpPolicy::Create(layout, DocParams(layout.num_params())));
  GDAQD_ASSERT_OK(policy.SetSkill(2));
  const std::vector<float> obs = {0.75f, -0.5f};
  std::vector<float> action(2);
  policy.Act(obs, absl::MakeSpan(action));
  EXPECT_THAT(action, Pointwise(FloatNear(kForwardTolerance), std::vector<float>{0.635149f, 0.0f}));
}

}  // namespace
}  // namespace gdaqd::common
