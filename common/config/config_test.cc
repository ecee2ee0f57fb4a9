#include "common/config/config.h"

#include <cctype>
#include <ostream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMinimal[] = R"pb(
  env { task: "point_maze" }
  budget { max_evaluations: 1000 }
)pb";

TEST(ConfigTest, MinimalConfigGetsDesignDefaults) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, ParseExperimentConfig(kMinimal));
  EXPECT_EQ(config.algorithm(), gdaqd::v1::MAP_ELITES);
  EXPECT_EQ(config.env().episode_length(), 250);
  EXPECT_THAT(config.policy().hidden_sizes(), ::testing::ElementsAre(64, 64));
  EXPECT_EQ(config.policy().hidden_activation(), "relu");
  EXPECT_EQ(config.policy().output_activation(), "tanh");
  EXPECT_EQ(config.archive().type(), gdaqd::v1::ArchiveConfig::GRID);
  EXPECT_THAT(config.archive().cells_per_dim(), ::testing::ElementsAre(50, 50));
  EXPECT_EQ(config.emitter().batch_size(), 100);
  EXPECT_FLOAT_EQ(config.emitter().iso_sigma(), 0.005f);
  EXPECT_FLOAT_EQ(config.emitter().line_sigma(), 0.05f);
  EXPECT_EQ(config.initial_population(), 100);
}

TEST(ConfigTest, ApplyDefaultsIsIdempotent) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, ParseExperimentConfig(kMinimal));
  gdaqd::v1::ExperimentConfig again = config;
  ApplyDefaults(&again);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(config, again));
}

TEST(ConfigTest, ParseErrorNamesLineAndColumn) {
  EXPECT_THAT(ParseExperimentConfig("env { task: \"point_maze\" }\nbudget { max_evals: 3 }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("line 2"), HasSubstr("max_evals"))));
}

struct BadCase {
  std::string text;   // merged over kMinimal
  std::string field;  // the path the error must start with
};

void PrintTo(const BadCase& bad, std::ostream* os) { *os << bad.field; }

class ConfigValidationTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigValidationTest, ErrorStartsWithTheOffendingField) {
  gdaqd::v1::ExperimentConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kMinimal, &config));
  ASSERT_TRUE(google::protobuf::TextFormat::MergeFromString(GetParam().text, &config));
  ApplyDefaults(&config);
  EXPECT_THAT(ValidateExperimentConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(GetParam().field + ":")));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ConfigValidationTest,
    ::testing::Values(
        BadCase{"env { task: \"moon_maze\" }", "env.task"},
        BadCase{"env { episode_length: -3 }", "env.episode_length"},
        BadCase{"budget { max_evaluations: -1 }", "budget.max_evaluations"},
        BadCase{"emitter { batch_size: -5 }", "emitter.batch_size"},
        BadCase{"emitter { iso_sigma: -0.1 }", "emitter.iso_sigma"},
        BadCase{"emitter { line_sigma: inf }", "emitter.line_sigma"},
        BadCase{"archive { cells_per_dim: 10 }", "archive.cells_per_dim"},
        BadCase{"archive { cells_per_dim: [10, 0] }", "archive.cells_per_dim[1]"},
        BadCase{"archive { type: CVT num_centroids: 100 cvt_samples: 10 }", "archive.cvt_samples"},
        BadCase{"policy { hidden_sizes: [64, 0] }", "policy.hidden_sizes[1]"},
        BadCase{"policy { hidden_activation: \"sigmoidish\" }", "policy.hidden_activation"},
        BadCase{"algorithm: 12", "algorithm"},
        BadCase{"algorithm: GDA_QD model { p_gradient: 2 }", "model.p_gradient"},
        BadCase{"algorithm: DA_QD_EXT model { retrain_every: -1 }", "model.retrain_every"},
        BadCase{"scheduler { lease_timeout_s: -1 }", "scheduler.lease_timeout_s"},
        BadCase{"scheduler { episodes_per_lease: 5000 }", "scheduler.episodes_per_lease"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name = info.param.field;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(ConfigTest, MissingBudgetIsRejected) {
  EXPECT_THAT(ParseExperimentConfig("env { task: \"point_maze\" }"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("budget.max_evaluations:")));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  EXPECT_THAT(LoadExperimentConfig("/nonexistent/gdaqd.textproto"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/gdaqd.textproto")));
}

TEST(ConfigTest, PolicyLayoutFollowsTaskAndConfig) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, ParseExperimentConfig(kMinimal));
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpLayout layout, PolicyLayout(config.env(), config.policy()));
  EXPECT_EQ(layout.obs_dim, 2);
  EXPECT_EQ(layout.action_dim, 2);
  EXPECT_EQ(layout.num_params(), (2 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2));
}

TEST(ConfigTest, ProtoRoundTripsThroughTextAndBinary) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, ParseExperimentConfig(kMinimal));
  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(config, &text));
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig from_text, ParseExperimentConfig(text));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(config, from_text));
  gdaqd::v1::ExperimentConfig from_binary;
  ASSERT_TRUE(from_binary.ParseFromString(config.SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(config, from_binary));
}

}  // namespace
}  // namespace gdaqd::common
