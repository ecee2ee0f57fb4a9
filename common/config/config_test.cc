#include "common/config/config.h"

#include <cctype>
#include <fstream>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::AllOf;
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
  EXPECT_EQ(config.env().action_map(), gdaqd::v1::EnvConfig::CLIP_0_1);  // the paper's
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

TEST(ConfigTest, ParseErrorDoesNotEchoAHugeToken) {
  const std::string field(1 << 20, 'f');
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      ParseExperimentConfig(absl::StrCat(field, ": 1"));
  EXPECT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_LT(config.status().message().size(), 400u);
}

struct BadCase {
  std::string text;   // merged over kMinimal
  std::string field;  // the path the error must start with
};

void PrintTo(const BadCase& bad, std::ostream* os) { *os << bad.field; }

// `field: "value"` in text format.
std::string Quoted(const std::string& field, const std::string& value) {
  return field + ": \"" + value + "\"";
}

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
        BadCase{"algorithm: 99", "algorithm"},
        BadCase{"algorithm: GDA_QD model { p_gradient: 2 }", "model.p_gradient"},
        BadCase{"algorithm: DA_QD_EXT model { retrain_every: -1 }", "model.retrain_every"},
        BadCase{"scheduler { learning_schedule: PIPELINED }", "scheduler.learning_schedule"},
        BadCase{"algorithm: PGA_ME scheduler { learning_schedule: 7 }",
                "scheduler.learning_schedule"},
        BadCase{"scheduler { lease_timeout_s: -1 }", "scheduler.lease_timeout_s"},
        BadCase{"scheduler { episodes_per_lease: 5000 }", "scheduler.episodes_per_lease"},
        // Bounds on strings and repeated fields (docs/durability.md §4).
        BadCase{Quoted("name", std::string(257, 'n')), "name"},
        BadCase{"name: \"exp\\033[2J\"", "name"},
        BadCase{Quoted("env { task", std::string(65, 't')) + " }", "env.task"},
        BadCase{Quoted("policy { hidden_activation", std::string(33, 'a')) + " }",
                "policy.hidden_activation"},
        BadCase{Quoted("policy { output_activation", std::string(33, 'a')) + " }",
                "policy.output_activation"},
        BadCase{Quoted("pga { device", std::string(17, 'd')) + " }", "pga.device"},
        BadCase{"policy { hidden_sizes: [8, 8, 8, 8, 8, 8, 8, 8, 8] }", "policy.hidden_sizes"},
        BadCase{"policy { hidden_sizes: [64, 4097] }", "policy.hidden_sizes[1]"},
        BadCase{"algorithm: PGA_ME pga { critic_hidden_sizes: [8, 8, 8, 8, 8, 8, 8, 8, 8] }",
                "pga.critic_hidden_sizes"},
        BadCase{"algorithm: PGA_ME pga { critic_hidden_sizes: [4097] }",
                "pga.critic_hidden_sizes[0]"},
        BadCase{"algorithm: DA_QD_EXT model { ensemble_hidden_sizes: [8, 8, 8, 8, 8, 8, 8, 8, 8] }",
                "model.ensemble_hidden_sizes"},
        BadCase{"algorithm: GDA_QD model { ensemble_hidden_sizes: [512, 8192] }",
                "model.ensemble_hidden_sizes[1]"},
        BadCase{"archive { cells_per_dim: [3, 2147483647] }", "archive.cells_per_dim[1]"},
        BadCase{"archive { cells_per_dim: [3163, 3163] }", "archive.cells_per_dim"},
        BadCase{"env { episode_length: 100001 }", "env.episode_length"},
        BadCase{"archive { type: CVT cvt_samples: 2147483647 }", "archive.cvt_samples"},
        BadCase{"archive { type: CVT num_centroids: 100001 cvt_samples: 200000 }",
                "archive.num_centroids"},
        BadCase{"emitter { iso_sigma: 1e6 }", "emitter.iso_sigma"},
        BadCase{"emitter { line_sigma: 1001 }", "emitter.line_sigma"},
        BadCase{"initial_population: 100001", "initial_population"},
        BadCase{"budget { max_evaluations: 1000000000001 }", "budget.max_evaluations"},
        BadCase{"scheduler { lease_timeout_s: 0.05 }", "scheduler.lease_timeout_s"},
        BadCase{"scheduler { lease_timeout_s: 86401 }", "scheduler.lease_timeout_s"},
        BadCase{"scheduler { lease_timeout_s: nan }", "scheduler.lease_timeout_s"},
        BadCase{"algorithm: PGA_ME pga { critic_batch_size: 100001 }", "pga.critic_batch_size"},
        BadCase{"algorithm: GDA_QD model { imagined_batch_size: 100001 }",
                "model.imagined_batch_size"},
        BadCase{"algorithm: GDA_QD model { training_data: 7 }", "model.training_data"},
        BadCase{"env { action_map: 7 }", "env.action_map"},
        BadCase{"env { task: \"ant_trap\" action_map: CLIP_1_DIVIDE_10 }", "env.action_map"},
        BadCase{"env { task: \"ant_maze\" action_map: CLIP_0_1 }", "env.action_map"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      // Several cases share a field: the index keeps the names unique.
      std::string name = absl::StrCat(info.param.field, "_", info.index);
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

// A config over `kMinimal` plus `extra`, defaulted, as Validate sees it.
gdaqd::v1::ExperimentConfig Defaulted(const std::string& extra) {
  gdaqd::v1::ExperimentConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kMinimal, &config));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(extra, &config));
  ApplyDefaults(&config);
  return config;
}

TEST(ConfigTest, HugeNameIsRefusedWithoutEchoingIt) {
  gdaqd::v1::ExperimentConfig config = Defaulted("");
  config.set_name(std::string(15 * 1024 * 1024, 'x'));
  EXPECT_THAT(ValidateExperimentConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::Eq("name: must be at most 256 bytes, got 15728640")));
}

TEST(ConfigTest, HugeTaskNameIsRefusedWithoutEchoingIt) {
  gdaqd::v1::ExperimentConfig config = Defaulted("");
  config.mutable_env()->set_task(std::string(1 << 20, 't'));
  ApplyDefaults(&config);
  EXPECT_THAT(ValidateExperimentConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::Eq("env.task: must be at most 64 bytes, got 1048576")));
}

TEST(ConfigTest, OversizedConfigIsRefusedEvenInFieldsTheAlgorithmIgnores) {
  // MAP_ELITES never reads pga.*, but the whole config is stored, listed and checkpointed.
  gdaqd::v1::ExperimentConfig config = Defaulted("");
  for (int i = 0; i < 30'000; ++i) config.mutable_pga()->add_critic_hidden_sizes(100'000);
  EXPECT_THAT(ValidateExperimentConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("config: ")));
}

TEST(ConfigTest, OversizedUnknownFieldsAreRefused) {
  gdaqd::v1::ExperimentConfig config = Defaulted("");
  // Field 1000, length-delimited, 100 KB: parses (proto3 keeps unknown fields) but is refused.
  std::string wire = config.SerializeAsString();
  const std::string payload(100'000, 'u');
  wire += std::string("\xc2\x3e", 2);      // tag (1000 << 3) | 2 as a varint
  wire += std::string("\xa0\x8d\x06", 3);  // varint 100000
  wire += payload;
  gdaqd::v1::ExperimentConfig parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_THAT(ValidateExperimentConfig(parsed),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("config: ")));
}

TEST(ConfigTest, ValuesAtTheBoundsAreAccepted) {
  GDAQD_EXPECT_OK(ValidateExperimentConfig(
      Defaulted(Quoted("name", std::string(kMaxNameBytes, 'n')) +
                " env { episode_length: 100000 }"
                " policy { hidden_sizes: [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096] }"
                " archive { cells_per_dim: [1, 10000000] }"
                " emitter { iso_sigma: 1000 line_sigma: 1000 batch_size: 100000 }"
                " budget { max_evaluations: 1000000000000 }"
                " scheduler { lease_timeout_s: 0.1 episodes_per_lease: 1024 }")));
  GDAQD_EXPECT_OK(ValidateExperimentConfig(
      Defaulted("archive { type: CVT num_centroids: 100000 cvt_samples: 10000000 }"
                " scheduler { lease_timeout_s: 86400 }")));
  GDAQD_EXPECT_OK(ValidateExperimentConfig(Defaulted(
      "algorithm: GDA_QD pga { critic_hidden_sizes: [4096, 4096, 4096, 4096, 4096, 4096, 4096,"
      " 4096] device: \"cpu\" } model { ensemble_hidden_sizes: [4096, 4096, 4096, 4096, 4096,"
      " 4096, 4096, 4096] }")));
}

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

TEST(ConfigTest, PointMazeKeepsAnExplicitActionMap) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig config,
      ParseExperimentConfig("env { task: \"point_maze\" action_map: CLIP_1_DIVIDE_10 } "
                            "budget { max_evaluations: 10 }"));
  EXPECT_EQ(config.env().action_map(), gdaqd::v1::EnvConfig::CLIP_1_DIVIDE_10);
}

TEST(ConfigTest, StoredConfigsFromBeforeTheActionMapKeepTheMapTheyRanWith) {
  const std::string dir = testing::FreshTempDir("stored_config");
  const std::string old_config = dir + "/config.textproto";
  {
    std::ofstream out(old_config);
    out << "env { task: \"point_maze\" } budget { max_evaluations: 10 }\n";
  }
  // A user's config without the field gets the paper's map; a stored one the map it ran with.
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig submitted,
                             LoadExperimentConfig(old_config));
  EXPECT_EQ(submitted.env().action_map(), gdaqd::v1::EnvConfig::CLIP_0_1);
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig stored,
                             LoadStoredExperimentConfig(old_config));
  EXPECT_EQ(stored.env().action_map(), gdaqd::v1::EnvConfig::CLIP_1_DIVIDE_10);
  // A stored config that names its map, and other tasks, are left alone.
  gdaqd::v1::ExperimentConfig explicit_map = submitted;
  UpgradeStoredConfig(&explicit_map);
  EXPECT_EQ(explicit_map.env().action_map(), gdaqd::v1::EnvConfig::CLIP_0_1);
  gdaqd::v1::ExperimentConfig ant;
  ant.mutable_env()->set_task("ant_trap");
  UpgradeStoredConfig(&ant);
  EXPECT_EQ(ant.env().action_map(), gdaqd::v1::EnvConfig::ACTION_MAP_UNSPECIFIED);
}

TEST(ConfigTest, LearningScheduleDefaultsToThePapers) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config,
                             ParseExperimentConfig("algorithm: GDA_QD env { task: \"point_maze\" } "
                                                   "budget { max_evaluations: 10 }"));
  EXPECT_EQ(config.scheduler().learning_schedule(), gdaqd::v1::SchedulerConfig::SYNCHRONOUS);
  EXPECT_EQ(config.model().retrain_every(), 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      config, ParseExperimentConfig(
                  "algorithm: DA_QD_EXT env { task: \"ant_trap\" } "
                  "scheduler { learning_schedule: PIPELINED } budget { max_evaluations: 10 }"));
  EXPECT_EQ(config.scheduler().learning_schedule(), gdaqd::v1::SchedulerConfig::PIPELINED);
  // A model-based config stored without the field ran with the old default, 25, and keeps it.
  gdaqd::v1::ExperimentConfig stored;
  stored.set_algorithm(gdaqd::v1::GDA_QD);
  stored.mutable_env()->set_task("ant_trap");
  UpgradeStoredConfig(&stored);
  EXPECT_EQ(stored.model().retrain_every(), 25);
  gdaqd::v1::ExperimentConfig map_elites;
  map_elites.mutable_env()->set_task("ant_trap");
  UpgradeStoredConfig(&map_elites);
  EXPECT_FALSE(map_elites.has_model());
}

TEST(ConfigTest, DaQdExtCarriesNoCriticSettings) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig config,
      ParseExperimentConfig("algorithm: DA_QD_EXT env { task: \"ant_trap\" } "
                            "budget { max_evaluations: 10 }"));
  EXPECT_FALSE(config.pga().has_isoline_fraction());
  EXPECT_EQ(config.pga().critic_steps(), 0);
  EXPECT_EQ(config.pga().critic_hidden_sizes_size(), 0);
  EXPECT_GT(config.pga().replay_capacity(), 0);  // what it does read
  EXPECT_EQ(config.pga().device(), "auto");
  EXPECT_THAT(ParseExperimentConfig("algorithm: DA_QD_EXT env { task: \"ant_trap\" } "
                                    "budget { max_evaluations: 10 } pga { critic_lr: 0.01 }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("pga.critic_lr: DA_QD_EXT has no critic")));
  // GDA_QD reads them all.
  GDAQD_ASSERT_OK_AND_ASSIGN(config,
                             ParseExperimentConfig("algorithm: GDA_QD env { task: \"ant_trap\" } "
                                                   "budget { max_evaluations: 10 }"));
  EXPECT_EQ(config.pga().critic_steps(), 300);
}

TEST(ConfigTest, AntTasksLeaveTheActionMapUnset) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig config,
      ParseExperimentConfig("env { task: \"ant_trap\" } budget { max_evaluations: 10 }"));
  EXPECT_EQ(config.env().action_map(), gdaqd::v1::EnvConfig::ACTION_MAP_UNSPECIFIED);
  GDAQD_EXPECT_OK(EnvironmentOptionsFromConfig(config.env()));
}

TEST(ConfigTest, EnvironmentOptionsFollowTheActionMap) {
  gdaqd::v1::EnvConfig env;
  env.set_task("point_maze");
  GDAQD_ASSERT_OK_AND_ASSIGN(EnvironmentOptions unset, EnvironmentOptionsFromConfig(env));
  EXPECT_EQ(unset.point_maze_action_map, PointMazeActionMap::kClip01);
  env.set_action_map(gdaqd::v1::EnvConfig::CLIP_0_1);
  GDAQD_ASSERT_OK_AND_ASSIGN(EnvironmentOptions paper, EnvironmentOptionsFromConfig(env));
  EXPECT_EQ(paper.point_maze_action_map, PointMazeActionMap::kClip01);
  env.set_action_map(gdaqd::v1::EnvConfig::CLIP_1_DIVIDE_10);
  GDAQD_ASSERT_OK_AND_ASSIGN(EnvironmentOptions later, EnvironmentOptionsFromConfig(env));
  EXPECT_EQ(later.point_maze_action_map, PointMazeActionMap::kClip1Divide10);
}

TEST(ConfigTest, EnvironmentOptionsRefuseWhatValidationRefuses) {
  gdaqd::v1::EnvConfig env;
  env.set_task("point_maze");
  env.set_action_map(static_cast<gdaqd::v1::EnvConfig::ActionMap>(9));
  EXPECT_THAT(
      EnvironmentOptionsFromConfig(env),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "env.action_map: 9 is not an action map (use CLIP_0_1 or CLIP_1_DIVIDE_10)"));
  env.set_task("ant_omni");
  env.set_action_map(gdaqd::v1::EnvConfig::CLIP_0_1);
  EXPECT_THAT(EnvironmentOptionsFromConfig(env),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("env.action_map:"), HasSubstr("point_maze only"))));
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

// Policy kinds (PolicyConfig.kind, num_skills, min_std).
INSTANTIATE_TEST_SUITE_P(
    PolicyKinds, ConfigValidationTest,
    ::testing::Values(BadCase{"policy { kind: TANH_GAUSSIAN min_std: -1 }", "policy.min_std"},
                      BadCase{"policy { kind: TANH_GAUSSIAN min_std: nan }", "policy.min_std"},
                      BadCase{"policy { kind: TANH_GAUSSIAN min_std: 11 }", "policy.min_std"},
                      BadCase{"policy { min_std: 0.1 }", "policy.min_std"},
                      BadCase{"policy { kind: TANH_GAUSSIAN output_activation: \"tanh\" }",
                              "policy.output_activation"},
                      BadCase{"policy { kind: 7 }", "policy.kind"},
                      BadCase{"policy { num_skills: -1 }", "policy.num_skills"},
                      BadCase{"policy { num_skills: 1001 }", "policy.num_skills"},
                      // The algorithms from before policy kinds run deterministic MLPs only.
                      BadCase{"policy { kind: TANH_GAUSSIAN }", "policy.kind"},
                      BadCase{"algorithm: PGA_ME policy { kind: TANH_GAUSSIAN }", "policy.kind"},
                      BadCase{"policy { num_skills: 5 }", "policy.num_skills"},
                      BadCase{"algorithm: GDA_QD policy { num_skills: 5 }", "policy.num_skills"}));

TEST(ConfigTest, PolicyKindsDefaultAndSizeTheLayout) {
  // The actor-learner algorithms that run these kinds validate the rest of such a config.
  gdaqd::v1::ExperimentConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      absl::StrCat(kMinimal, " policy { kind: TANH_GAUSSIAN num_skills: 5 }"), &config));
  ApplyDefaults(&config);
  EXPECT_EQ(config.policy().output_activation(), "identity");
  EXPECT_FLOAT_EQ(config.policy().min_std(), 0.001f);
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpLayout layout, PolicyLayout(config.env(), config.policy()));
  EXPECT_EQ(layout.kind, PolicyKind::kTanhGaussian);
  EXPECT_EQ(layout.num_skills, 5);
  EXPECT_EQ(layout.input_dim(), 7);
  EXPECT_EQ(layout.output_dim(), 4);
  EXPECT_EQ(layout.num_params(), 4932);  // docs/policy_layout.md's example
}

TEST(ConfigTest, UnsetPolicyKindStaysUnsetAndIsTodaysPolicy) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, ParseExperimentConfig(kMinimal));
  EXPECT_EQ(config.policy().kind(), gdaqd::v1::PolicyConfig::KIND_UNSPECIFIED);
  EXPECT_EQ(config.policy().num_skills(), 0);
  EXPECT_EQ(config.policy().min_std(), 0);
  EXPECT_EQ(config.policy().output_activation(), "tanh");
  GDAQD_ASSERT_OK_AND_ASSIGN(MlpLayout layout, PolicyLayout(config.env(), config.policy()));
  EXPECT_EQ(layout, (MlpLayout{.obs_dim = 2, .hidden_sizes = {64, 64}, .action_dim = 2}));
}

}  // namespace
}  // namespace gdaqd::common
