#include "common/config/algorithms/es_rules.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::StatusIs;

absl::StatusOr<gdaqd::v1::ExperimentConfig> Parse(const std::string& algorithm,
                                                  const std::string& extra = "") {
  return ParseExperimentConfig(absl::StrCat("algorithm: ", algorithm,
                                            " env { task: \"point_maze\" } budget { "
                                            "max_evaluations: 10000 } ",
                                            extra));
}

TEST(EsRulesTest, TellsTheFiveMethodsApart) {
  for (auto a :
       {gdaqd::v1::ES, gdaqd::v1::NS_ES, gdaqd::v1::NSR_ES, gdaqd::v1::NSRA_ES, gdaqd::v1::ME_ES}) {
    EXPECT_TRUE(IsEsAlgorithm(a)) << a;
  }
  EXPECT_FALSE(IsEsAlgorithm(gdaqd::v1::MAP_ELITES));
  EXPECT_FALSE(IsEsAlgorithm(gdaqd::v1::GDA_QD));
  EXPECT_TRUE(IsNoveltyEsAlgorithm(gdaqd::v1::NSRA_ES));
  EXPECT_FALSE(IsNoveltyEsAlgorithm(gdaqd::v1::ME_ES));
}

TEST(EsRulesTest, DefaultsArePerMethod) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto es, Parse("ES"));
  EXPECT_FLOAT_EQ(es.es().sigma(), 0.02f);
  EXPECT_FLOAT_EQ(es.es().learning_rate(), 0.01f);
  EXPECT_EQ(es.es().l2_coefficient(), 0.0f);
  EXPECT_EQ(es.emitter().batch_size(), 513);
  EXPECT_EQ(es.initial_population(), 513);
  EXPECT_TRUE(es.es().evaluate_centre());
  GDAQD_ASSERT_OK_AND_ASSIGN(auto ns, Parse("NSRA_ES"));
  EXPECT_EQ(ns.initial_population(), 5);
  EXPECT_EQ(ns.es().novelty_k(), 10);
  EXPECT_FLOAT_EQ(ns.es().nsra_initial_weight(), 1.0f);
  EXPECT_FLOAT_EQ(ns.es().nsra_weight_delta(), 0.05f);
  EXPECT_EQ(ns.es().nsra_stagnation(), 10);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto me, Parse("ME_ES"));
  EXPECT_FLOAT_EQ(me.es().l2_coefficient(), 0.02f);
  EXPECT_EQ(me.es().me_es_steps_per_parent(), 10);
  EXPECT_EQ(me.es().me_es_explore_pool(), 5);
  EXPECT_EQ(me.es().me_es_exploit_pool(), 2);
  // An explicit 0 stays 0 where 0 means something.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto zero, Parse("NSRA_ES", "es { nsra_initial_weight: 0 }"));
  EXPECT_EQ(zero.es().nsra_initial_weight(), 0.0f);
  // Other algorithms get no es block.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto me_plain, Parse("MAP_ELITES"));
  EXPECT_FALSE(me_plain.has_es());
}

TEST(EsRulesTest, ErrorsNameTheField) {
  struct Case {
    std::string algorithm, extra, prefix;
  };
  const Case cases[] = {
      {"ES", "es { sigma: -1 }", "es.sigma: must be in (0, 10], got -1"},
      {"ES", "es { learning_rate: 2 }", "es.learning_rate: must be in (0, 1]"},
      {"ES", "es { l2_coefficient: -0.1 }", "es.l2_coefficient: must be in [0, 10]"},
      {"ES", "es { adam_beta1: 1 }", "es.adam_beta1: must be in [0, 1)"},
      {"NS_ES", "es { novelty_k: -3 }", "es.novelty_k: must be in [1, 10000]"},
      {"NS_ES", "es { meta_population: 8 } initial_population: 4",
       "initial_population: must be at least es.meta_population (8), got 4"},
      {"NSRA_ES", "es { nsra_initial_weight: 1.5 }", "es.nsra_initial_weight"},
      {"ME_ES", "es { me_es_steps_per_parent: -1 }", "es.me_es_steps_per_parent"},
      {"ME_ES", "es { evaluate_centre: false }", "es.evaluate_centre: must be true"},
      {"ES", "emitter { batch_size: 2 }", "emitter.batch_size: must be at least 3"},
      {"ES", "scheduler { learning_schedule: PIPELINED }", "scheduler.learning_schedule"},
      {"NSR_ES", "policy { kind: TANH_GAUSSIAN }", "policy.kind: TANH_GAUSSIAN is not supported"},
      {"ME_ES", "policy { num_skills: 5 }", "policy.num_skills: must be 0 for ME_ES"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Parse(c.algorithm, c.extra),
                StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(c.prefix)))
        << c.algorithm << " " << c.extra;
  }
  // Without the centre a generation of 2 (one pair) is fine for ES.
  GDAQD_EXPECT_OK(Parse("ES", "es { evaluate_centre: false } emitter { batch_size: 2 }").status());
}

TEST(EsRulesTest, UnknownAlgorithmListsTheEsMethods) {
  EXPECT_THAT(Parse("99"), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("ES, NS_ES, NSR_ES, NSRA_ES, ME_ES")));
}

}  // namespace
}  // namespace gdaqd::common
