#include "server/algorithms/registry.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/map_elites.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::testing::HasSubstr;

gdaqd::v1::Algorithm TestId(int n) { return static_cast<gdaqd::v1::Algorithm>(700 + n); }

// A stand-in factory: MAP-Elites under another id.
absl::StatusOr<std::unique_ptr<QdAlgorithm>> MakeRenamedMapElites(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  gdaqd::v1::ExperimentConfig as_map_elites = config;
  as_map_elites.set_algorithm(gdaqd::v1::MAP_ELITES);
  absl::StatusOr<std::unique_ptr<MapElites>> made = MapElites::Create(as_map_elites, interrupt);
  if (!made.ok()) return made.status();
  return std::unique_ptr<QdAlgorithm>(std::move(made).value());
}

common::AlgorithmRules Rules(int n, std::string name) {
  common::AlgorithmRules rules;
  rules.id = TestId(n);
  rules.name = std::move(name);
  rules.label = "test algorithm";
  return rules;
}

gdaqd::v1::ExperimentConfig PointMazeConfig(gdaqd::v1::Algorithm algorithm) {
  gdaqd::v1::ExperimentConfig config;
  config.set_algorithm(algorithm);
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(10);
  config.mutable_archive()->add_cells_per_dim(5);
  config.mutable_archive()->add_cells_per_dim(5);
  config.mutable_budget()->set_max_evaluations(10);
  common::ApplyDefaults(&config);
  return config;
}

TEST(RegistryTest, EveryBuiltinHasRulesAndAFactory) {
  GDAQD_EXPECT_OK(CheckAlgorithmRegistry());
  for (const gdaqd::v1::Algorithm id :
       {gdaqd::v1::MAP_ELITES, gdaqd::v1::PGA_ME, gdaqd::v1::DA_QD_EXT, gdaqd::v1::GDA_QD}) {
    EXPECT_NE(FindAlgorithmFactory(id), nullptr) << gdaqd::v1::Algorithm_Name(id);
    EXPECT_NE(common::FindAlgorithmRules(id), nullptr) << gdaqd::v1::Algorithm_Name(id);
  }
  for (const common::AlgorithmRules* rules : common::AllAlgorithmRules()) {
    EXPECT_NE(FindAlgorithmFactory(rules->id), nullptr) << rules->name;
  }
}

TEST(RegistryTest, MakeAlgorithmNamesAnUnknownIdAndTheChoices) {
  absl::StatusOr<std::unique_ptr<QdAlgorithm>> made = MakeAlgorithm(PointMazeConfig(TestId(99)));
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(made.status().message()),
              HasSubstr("algorithm: 799 is not an algorithm (use MAP_ELITES, PGA_ME, DA_QD_EXT"));
}

TEST(RegistryTest, RegisteredAlgorithmIsBuiltByMakeAlgorithm) {
  GDAQD_ASSERT_OK(RegisterAlgorithm(Rules(1, "RENAMED_ME"), &MakeRenamedMapElites));
  GDAQD_EXPECT_OK(CheckAlgorithmRegistry());
  const gdaqd::v1::ExperimentConfig config = PointMazeConfig(TestId(1));
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<QdAlgorithm> algorithm, MakeAlgorithm(config));
  std::vector<float> params;
  GDAQD_EXPECT_OK(algorithm->Ask(3, &params));
  EXPECT_EQ(params.size(), 3 * algorithm->layout().num_params());
}

TEST(RegistryTest, RefusesDuplicatesAndNullFactoriesWithoutRegisteringAnything) {
  const absl::Status builtin = RegisterAlgorithm(Rules(0, "X"), nullptr);
  EXPECT_EQ(builtin.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(common::FindAlgorithmRules(TestId(0)), nullptr);

  common::AlgorithmRules taken_id = Rules(0, "MY_GDA");
  taken_id.id = gdaqd::v1::GDA_QD;
  EXPECT_EQ(RegisterAlgorithm(taken_id, &MakeRenamedMapElites).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterAlgorithm(Rules(2, "PGA_ME"), &MakeRenamedMapElites).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(FindAlgorithmFactory(TestId(2)), nullptr);  // the name was taken: no factory either
  EXPECT_EQ(common::FindAlgorithmRules(gdaqd::v1::GDA_QD)->name, "GDA_QD");
  GDAQD_EXPECT_OK(CheckAlgorithmRegistry());
}

TEST(RegistryTest, RulesWithoutAFactoryFailTheCheck) {
  GDAQD_ASSERT_OK(common::RegisterAlgorithmRules(Rules(3, "ONLY_RULES")));
  const absl::Status check = CheckAlgorithmRegistry();
  EXPECT_EQ(check.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(check.message()), HasSubstr("without a factory: [ONLY_RULES]"));
  // MakeAlgorithm refuses it rather than crash.
  EXPECT_EQ(MakeAlgorithm(PointMazeConfig(TestId(3))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gdaqd::server
