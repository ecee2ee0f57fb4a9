#include "client/full_text_format.h"

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::ExperimentConfig ParseBack(const std::string& text) {
  v1::ExperimentConfig parsed;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &parsed)) << text;
  return parsed;
}

TEST(PrintWithDefaultsTest, WritesZeroScalarsAndEnums) {
  v1::ExperimentConfig config;
  config.mutable_env()->set_task("point_maze");
  const std::string text = PrintWithDefaults(config);
  EXPECT_THAT(text, HasSubstr("seed: 0\n"));
  EXPECT_THAT(text, HasSubstr("name: \"\"\n"));
  EXPECT_THAT(text, HasSubstr("algorithm: ALGORITHM_UNSPECIFIED\n"));
  EXPECT_THAT(text, HasSubstr("env {\n  task: \"point_maze\"\n"));
  EXPECT_THAT(text, HasSubstr("  episode_length: 0\n"));
}

TEST(PrintWithDefaultsTest, LeavesUnsetSubMessagesAndOptionalsOut) {
  v1::ExperimentConfig config;
  config.set_seed(7);
  const std::string text = PrintWithDefaults(config);
  // Printing `env {}` would make has_env() true on parsing, a different config.
  EXPECT_THAT(text, Not(HasSubstr("env {")));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ParseBack(text), config));
}

TEST(PrintWithDefaultsTest, DefaultedExampleConfigParsesBackEqual) {
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config, common::ParseExperimentConfig(R"pb(
                               name: "round trip"
                               algorithm: GDA_QD
                               env { task: "point_maze" episode_length: 50 }
                               archive { cells_per_dim: [ 8, 8 ] }
                               budget { max_evaluations: 1000 }
                             )pb"));
  const std::string text = PrintWithDefaults(config);
  EXPECT_THAT(text, HasSubstr("seed: 0\n"));
  EXPECT_THAT(text, HasSubstr("cells_per_dim: 8\n"));
  v1::ExperimentConfig parsed = ParseBack(text);
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(parsed, config)) << difference;
}

}  // namespace
}  // namespace gdaqd::client
