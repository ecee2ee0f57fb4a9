#include "common/config/algorithm_rules.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Made-up ids outside config.proto's enum, one per test so the process-wide table stays
// consistent whatever order the tests run in.
gdaqd::v1::Algorithm TestId(int n) { return static_cast<gdaqd::v1::Algorithm>(800 + n); }

TEST(AlgorithmRulesTest, BuiltinsAreSortedWithTheirNamesLabelsAndTraits) {
  std::vector<std::string> names, labels;
  for (const AlgorithmRules* rules : AllAlgorithmRules()) {
    if (rules->id >= TestId(0)) continue;  // registered by other tests of this binary
    names.push_back(rules->name);
    labels.push_back(rules->label);
  }
  EXPECT_THAT(names, ElementsAre("MAP_ELITES", "PGA_ME", "DA_QD_EXT", "GDA_QD", "ES", "NS_ES",
                                 "NSR_ES", "NSRA_ES", "ME_ES", "TD3", "SAC", "DIAYN", "SMERL"));
  EXPECT_THAT(labels, ElementsAre("MAP-Elites", "PGA-ME", "DA-QD-ext", "GDA-QD", "ES", "NS-ES",
                                  "NSR-ES", "NSRA-ES", "ME-ES", "TD3", "SAC", "DIAYN", "SMERL"));
  for (const AlgorithmRules* rules : AllAlgorithmRules()) {
    EXPECT_EQ(rules->name, gdaqd::v1::Algorithm_Name(rules->id).empty()
                               ? rules->name
                               : gdaqd::v1::Algorithm_Name(rules->id));
  }
  const AlgorithmRules* me = FindAlgorithmRules(gdaqd::v1::MAP_ELITES);
  ASSERT_NE(me, nullptr);
  EXPECT_FALSE(me->traits.learns);
  EXPECT_FALSE(me->traits.needs_transitions);
  const AlgorithmRules* gda = FindAlgorithmRules(gdaqd::v1::GDA_QD);
  ASSERT_NE(gda, nullptr);
  EXPECT_TRUE(gda->traits.learns && gda->traits.needs_transitions &&
              gda->traits.uses_dynamics_model && gda->traits.uses_critic);
  const AlgorithmRules* da = FindAlgorithmRules(gdaqd::v1::DA_QD_EXT);
  ASSERT_NE(da, nullptr);
  EXPECT_TRUE(da->traits.uses_dynamics_model);
  EXPECT_FALSE(da->traits.uses_critic);
  const AlgorithmRules* pga = FindAlgorithmRules(gdaqd::v1::PGA_ME);
  ASSERT_NE(pga, nullptr);
  EXPECT_TRUE(pga->traits.uses_critic);
  EXPECT_FALSE(pga->traits.uses_dynamics_model);
  EXPECT_TRUE(UsesCritic(gdaqd::v1::PGA_ME));
  EXPECT_FALSE(UsesDynamicsModel(gdaqd::v1::PGA_ME));
  for (gdaqd::v1::Algorithm es :
       {gdaqd::v1::ES, gdaqd::v1::NS_ES, gdaqd::v1::NSR_ES, gdaqd::v1::NSRA_ES, gdaqd::v1::ME_ES}) {
    const AlgorithmRules* rules = FindAlgorithmRules(es);
    ASSERT_NE(rules, nullptr);
    EXPECT_FALSE(rules->traits.learns || rules->traits.needs_transitions) << rules->name;
    EXPECT_NE(rules->apply_shared_defaults, nullptr) << rules->name;  // the generation of 513
  }
}

TEST(AlgorithmRulesTest, UnknownIdIsNamedWithTheRegisteredChoices) {
  EXPECT_EQ(FindAlgorithmRules(TestId(99)), nullptr);
  const absl::Status status = UnknownAlgorithmError(TestId(99));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("algorithm: 899 is not an algorithm (use MAP_ELITES, PGA_ME, DA_QD_EXT"));
}

TEST(AlgorithmRulesTest, RefusesDuplicateIdsAndNames) {
  AlgorithmRules rules;
  rules.id = gdaqd::v1::PGA_ME;
  rules.name = "MY_PGA";
  rules.label = "my PGA";
  EXPECT_EQ(RegisterAlgorithmRules(rules).code(), absl::StatusCode::kAlreadyExists);
  rules.id = TestId(1);
  rules.name = "GDA_QD";
  const absl::Status taken = RegisterAlgorithmRules(rules);
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(taken.message()), HasSubstr("GDA_QD"));
  EXPECT_EQ(FindAlgorithmRules(TestId(1)), nullptr);  // nothing registered on error
  EXPECT_EQ(FindAlgorithmRules(gdaqd::v1::PGA_ME)->name, "PGA_ME");
}

TEST(AlgorithmRulesTest, RefusesUnspecifiedIdAndEmptyNames) {
  AlgorithmRules rules;
  rules.name = "X";
  rules.label = "x";
  EXPECT_EQ(RegisterAlgorithmRules(rules).code(), absl::StatusCode::kInvalidArgument);
  rules.id = TestId(2);
  rules.name = "";
  EXPECT_EQ(RegisterAlgorithmRules(rules).code(), absl::StatusCode::kInvalidArgument);
  rules.name = "X";
  rules.label = "";
  EXPECT_EQ(RegisterAlgorithmRules(rules).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FindAlgorithmRules(TestId(2)), nullptr);
}

// A runtime-registered algorithm's hooks run inside ApplyDefaults and ValidateExperimentConfig,
// its traits gate PIPELINED, and it joins the "use ..." list.
void ToyDefaults(gdaqd::v1::ExperimentConfig* config) {
  if (config->emitter().iso_sigma() == kDefaultIsoSigma)
    config->mutable_emitter()->set_iso_sigma(1);
}
absl::Status ToyValidate(const gdaqd::v1::ExperimentConfig& config) {
  if (config.emitter().line_sigma() != 0) {
    return absl::InvalidArgumentError("emitter.line_sigma: TOY_ONE ignores it");
  }
  return absl::OkStatus();
}

TEST(AlgorithmRulesTest, RegisteredHooksRunInDefaultsAndValidation) {
  AlgorithmRules rules;
  rules.id = TestId(3);
  rules.name = "TOY_ONE";
  rules.label = "Toy one";
  rules.apply_defaults = &ToyDefaults;
  rules.validate = &ToyValidate;
  GDAQD_ASSERT_OK(RegisterAlgorithmRules(rules));
  EXPECT_EQ(AlgorithmName(TestId(3)), "TOY_ONE");
  EXPECT_EQ(RegisterAlgorithmRules(rules).code(), absl::StatusCode::kAlreadyExists);

  gdaqd::v1::ExperimentConfig config;
  config.set_algorithm(TestId(3));
  config.mutable_env()->set_task("point_maze");
  config.mutable_budget()->set_max_evaluations(10);
  ApplyDefaults(&config);
  EXPECT_EQ(config.emitter().iso_sigma(), 1);  // the hook ran after the generic defaults
  EXPECT_FALSE(config.has_pga());              // no other algorithm's section
  const absl::Status ignored = ValidateExperimentConfig(config);
  EXPECT_THAT(std::string(ignored.message()), HasSubstr("TOY_ONE ignores it"));
  config.mutable_emitter()->set_line_sigma(0);
  GDAQD_EXPECT_OK(ValidateExperimentConfig(config));
  config.mutable_scheduler()->set_learning_schedule(gdaqd::v1::SchedulerConfig::PIPELINED);
  EXPECT_THAT(std::string(ValidateExperimentConfig(config).message()),
              HasSubstr("TOY_ONE learns nothing"));
  EXPECT_THAT(std::string(UnknownAlgorithmError(TestId(98)).message()),
              HasSubstr("TD3, SAC, DIAYN, SMERL or TOY_ONE)"));
}

}  // namespace
}  // namespace gdaqd::common
