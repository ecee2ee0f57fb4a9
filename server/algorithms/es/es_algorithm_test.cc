#include "server/algorithms/es/es_algorithm.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::es {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

// point_maze with a tiny policy: a generation of 11 = row 0 + 5 pairs. `es_extra` goes into the
// es block, `extra` at the top level.
gdaqd::v1::ExperimentConfig TinyConfig(const std::string& algorithm, const std::string& extra = "",
                                       const std::string& es_extra = "") {
  constexpr char kTiny[] = R"pb(
    env { task: "point_maze" episode_length: 40 }
    policy { hidden_sizes: [ 8 ] }
    archive { cells_per_dim: [ 10, 10 ] }
    emitter { batch_size: 11 }
    budget { max_evaluations: 1000 }
    seed: 3
  )pb";
  auto config = common::ParseExperimentConfig(absl::StrCat(
      "algorithm: ", algorithm, kTiny,
      " es { sigma: 0.1 me_es_steps_per_parent: 2 nsra_stagnation: 2 ", es_extra, " } ", extra));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// Asks `count`, evaluates on point_maze in-process and tells; returns the batch.
std::vector<float> Generation(EsAlgorithm& algo, const gdaqd::v1::ExperimentConfig& config,
                              int64_t count) {
  EvalRequest request;
  request.env = config.env();
  request.policy = config.policy();
  request.num_params = algo.layout().num_params();
  request.descriptor_dim = 2;
  EXPECT_TRUE(algo.Ask(count, &request.params).ok());
  request.seeds.assign(static_cast<size_t>(count), 0);
  LocalEvaluator evaluator(2);
  auto outcomes = evaluator.Evaluate(request, nullptr);
  EXPECT_TRUE(outcomes.ok()) << outcomes.status();
  auto told = algo.Tell(request.params, *outcomes);
  EXPECT_TRUE(told.ok()) << told.status();
  return request.params;
}

class EsAlgorithmTest : public ::testing::TestWithParam<const char*> {};

TEST_P(EsAlgorithmTest, RunsGenerationsOnPointMazeDeterministically) {
  const auto config = TinyConfig(GetParam());
  GDAQD_ASSERT_OK_AND_ASSIGN(auto a, EsAlgorithm::Create(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto b, EsAlgorithm::Create(config));
  const bool first_is_random = std::string(GetParam()) != "ES";
  const int generations = 6;
  if (first_is_random) {
    EXPECT_EQ(Generation(*a, config, 5), Generation(*b, config, 5));
  }
  for (int g = 0; g < generations; ++g) {
    EXPECT_EQ(Generation(*a, config, 11), Generation(*b, config, 11)) << "generation " << g;
  }
  EXPECT_EQ(a->history().size(), static_cast<size_t>(generations));
  EXPECT_GT(a->archive().num_filled(), 1);
  for (const EsGenerationRecord& record : a->history()) {
    EXPECT_EQ(record.used_pairs, 5);
    EXPECT_GE(record.reward_weight, 0.0);
    EXPECT_LE(record.reward_weight, 1.0);
  }
}

TEST_P(EsAlgorithmTest, PairsAreAntitheticAroundTheParent) {
  const auto config = TinyConfig(GetParam());
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  if (std::string(GetParam()) != "ES") Generation(*algo, config, 5);
  Generation(*algo, config, 11);
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(11, &params));
  const int64_t n = algo->layout().num_params();
  const auto& lineages = algo->lineages();
  // Rows 1, 2 are parent +- sigma eps: their midpoint is one of the lineages' centres.
  std::vector<float> mid(n);
  for (int64_t j = 0; j < n; ++j) mid[j] = 0.5f * (params[n + j] + params[2 * n + j]);
  bool found = false;
  for (const Lineage& lineage : lineages) {
    bool same = true;
    for (int64_t j = 0; j < n; ++j) same = same && std::abs(mid[j] - lineage.theta[j]) < 1e-5;
    found = found || same;
  }
  EXPECT_TRUE(found);
}

TEST_P(EsAlgorithmTest, AskTwiceOrTellWithoutAskIsRefused) {
  const auto config = TinyConfig(GetParam());
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  std::vector<float> params;
  EXPECT_THAT(algo->Tell({}, {}), StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  GDAQD_ASSERT_OK(algo->Ask(5, &params));
  EXPECT_THAT(algo->Ask(5, &params), StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  std::vector<EvalOutcome> three(3);
  EXPECT_THAT(algo->Tell(params, three),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
}

INSTANTIATE_TEST_SUITE_P(Methods, EsAlgorithmTest,
                         ::testing::Values("ES", "NS_ES", "NSR_ES", "NSRA_ES", "ME_ES"));

// Fabricated outcomes: reward r, descriptor (x, y).
EvalOutcome Outcome(float reward, float x, float y) {
  EvalOutcome outcome;
  outcome.fitness = reward;
  outcome.descriptor = {x, y};
  outcome.length = 1;
  return outcome;
}

TEST(EsTest, AFailedEpisodeDropsItsPairAndEveryEpisodeIsOffered) {
  const auto config = TinyConfig("ES");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(11, &params));
  std::vector<EvalOutcome> outcomes;
  for (int i = 0; i < 11; ++i) outcomes.push_back(Outcome(-i, -0.9f + 0.17f * i, 0.5f));
  outcomes[4].error = "boom";  // row 4 is the minus side of pair 1
  GDAQD_ASSERT_OK_AND_ASSIGN(TellSummary summary, algo->Tell(params, outcomes));
  EXPECT_EQ(summary.failed, 1);
  EXPECT_EQ(summary.added + summary.improved + summary.not_added, 10);
  EXPECT_EQ(algo->history().back().used_pairs, 4);
  EXPECT_EQ(algo->history().back().offspring_reward, 0);
}

TEST(EsTest, AnOddBatchEndsWithAnUnpairedPerturbation) {
  const auto config = TinyConfig("ES");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(4, &params));  // centre, one pair, one unpaired
  std::vector<EvalOutcome> outcomes;
  for (int i = 0; i < 4; ++i) outcomes.push_back(Outcome(i, 0.1f * i, 0));
  GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());
  EXPECT_EQ(algo->history().back().used_pairs, 1);
}

TEST(EsTest, TheStepClimbsTheRewardOfItsPairs) {
  // Reward = the plus/minus side: the centre must move toward the plus perturbation.
  const auto config = TinyConfig("ES", "", "learning_rate: 0.5");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(3, &params));
  const int64_t n = algo->layout().num_params();
  const std::vector<float> before = algo->lineages()[0].theta;
  GDAQD_ASSERT_OK(
      algo->Tell(params, {Outcome(0, 0, 0), Outcome(1, 0.5f, 0), Outcome(-1, -0.5f, 0)}).status());
  const std::vector<float>& after = algo->lineages()[0].theta;
  double dot = 0;
  for (int64_t j = 0; j < n; ++j) dot += (after[j] - before[j]) * (params[n + j] - before[j]);
  EXPECT_GT(dot, 0);
}

TEST(NoveltyEsTest, MembersComeFromTheFirstBatchAndTheArchiveGrowsByOnePerGeneration) {
  const auto config = TinyConfig("NS_ES", "initial_population: 7");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  Generation(*algo, config, 7);
  EXPECT_EQ(algo->lineages().size(), 5u);  // es.meta_population
  EXPECT_EQ(algo->novelty_archive().size(), 0);
  for (int g = 1; g <= 3; ++g) {
    Generation(*algo, config, 11);
    EXPECT_EQ(algo->novelty_archive().size(), g);
  }
}

TEST(NsraEsTest, RecordsTheWeightPerGeneration) {
  const auto config = TinyConfig("NSRA_ES");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(5, &params));
  std::vector<EvalOutcome> initial;
  for (int i = 0; i < 5; ++i) initial.push_back(Outcome(10 + i, 0.1f * i, 0));
  GDAQD_ASSERT_OK(algo->Tell(params, initial).status());
  // Offspring rewards never beat the best member (14): w drops by 0.05 every 2 generations.
  std::vector<double> weights;
  for (int g = 0; g < 6; ++g) {
    GDAQD_ASSERT_OK(algo->Ask(11, &params));
    std::vector<EvalOutcome> outcomes;
    for (int i = 0; i < 11; ++i) outcomes.push_back(Outcome(i, 0.05f * i, 0.01f * g));
    GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());
    weights.push_back(algo->history().back().reward_weight);
  }
  const std::vector<double> want = {1.0, 0.95, 0.95, 0.9, 0.9, 0.85};
  ASSERT_EQ(weights.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(weights[i], want[i], 1e-6) << i;  // delta is a float
}

TEST(MeEsTest, AlternatesExploreAndExploitBlocks) {
  const auto config = TinyConfig("ME_ES");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, EsAlgorithm::Create(config));
  Generation(*algo, config, 11);
  for (int g = 0; g < 6; ++g) Generation(*algo, config, 11);
  std::vector<bool> explore;
  for (const EsGenerationRecord& record : algo->history()) explore.push_back(record.explore);
  EXPECT_THAT(explore, ::testing::ElementsAre(true, true, false, false, true, true));
  EXPECT_EQ(algo->history()[2].reward_weight, 1.0);
}

TEST(EsAlgorithmFactoryTest, MakeAlgorithmBuildsEachMethodAndRefusesOthers) {
  for (const char* name : {"ES", "NS_ES", "NSR_ES", "NSRA_ES", "ME_ES"}) {
    GDAQD_EXPECT_OK(MakeAlgorithm(TinyConfig(name)).status()) << name;
  }
  EXPECT_THAT(EsAlgorithm::Create(TinyConfig("MAP_ELITES")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("EsAlgorithm needs ES")));
}

TEST(EsCheckpointTest, AnotherMethodsCheckpointIsRefused) {
  const auto es_config = TinyConfig("ES");
  const auto ns_config = TinyConfig("NS_ES");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto es, EsAlgorithm::Create(es_config));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto ns, EsAlgorithm::Create(ns_config));
  Generation(*es, es_config, 11);
  std::stringstream saved;
  GDAQD_ASSERT_OK(es->SaveCheckpoint(saved));
  EXPECT_THAT(ns->RestoreCheckpoint(saved), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     HasSubstr("checkpoint is of algorithm")));
  EXPECT_EQ(ns->archive().num_filled(), 0);
}

}  // namespace
}  // namespace gdaqd::server::es
