#include "server/algorithms/map_elites.h"

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/archive/qd_metrics.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

gdaqd::v1::ExperimentConfig SmallConfig() {
  auto config = common::ParseExperimentConfig(R"pb(
    env { task: "point_maze" episode_length: 50 }
    policy { hidden_sizes: [ 8, 8 ] }
    archive { cells_per_dim: [ 10, 10 ] }
    emitter { batch_size: 20 }
    budget { max_evaluations: 200 }
    seed: 7
  )pb");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

EvalOutcome Outcome(float fitness, float x, float y) {
  EvalOutcome outcome;
  outcome.fitness = fitness;
  outcome.descriptor = {x, y};
  return outcome;
}

TEST(MapElitesTest, AskIsDeterministicForASeed) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto a, MapElites::Create(SmallConfig()));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto b, MapElites::Create(SmallConfig()));
  std::vector<float> pa, pb;
  GDAQD_ASSERT_OK(a->Ask(5, &pa));
  GDAQD_ASSERT_OK(b->Ask(5, &pb));
  EXPECT_EQ(pa, pb);
  EXPECT_EQ(pa.size(), 5u * a->layout().num_params());
}

TEST(MapElitesTest, RandomPoliciesDiffer) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(SmallConfig()));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(2, &params));
  const int64_t n = algo->layout().num_params();
  EXPECT_NE(std::vector<float>(params.begin(), params.begin() + n),
            std::vector<float>(params.begin() + n, params.end()));
}

TEST(MapElitesTest, TellSkipsDivergedAndFailedOutcomes) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(SmallConfig()));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(3, &params));
  std::vector<EvalOutcome> outcomes = {Outcome(-1, 0.1f, 0.1f), Outcome(-2, 0.5f, 0.5f),
                                       Outcome(-3, -0.5f, -0.5f)};
  outcomes[1].diverged = true;
  outcomes[2].error = "boom";
  GDAQD_ASSERT_OK_AND_ASSIGN(TellSummary summary, algo->Tell(params, outcomes));
  EXPECT_EQ(summary.added, 1);
  EXPECT_EQ(summary.diverged, 1);
  EXPECT_EQ(summary.failed, 1);
  EXPECT_EQ(algo->archive().num_filled(), 1);
}

// InsertOutcomes passes the parameters through when every outcome is kept and copies the kept
// rows otherwise: either way each elite holds its own episode's parameters.
TEST(MapElitesTest, TellStoresEachKeptOutcomesOwnParameters) {
  for (bool drop_some : {false, true}) {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(SmallConfig()));
    std::vector<float> params;
    GDAQD_ASSERT_OK(algo->Ask(5, &params));
    const int64_t n = algo->layout().num_params();
    std::vector<EvalOutcome> outcomes = {Outcome(-1, -0.9f, -0.9f), Outcome(-2, -0.5f, 0.5f),
                                         Outcome(-3, 0.1f, 0.1f), Outcome(-4, 0.5f, -0.5f),
                                         Outcome(-5, 0.9f, 0.9f)};
    if (drop_some) {
      outcomes[0].error = "boom";
      outcomes[3].diverged = true;
    }
    GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());
    EXPECT_EQ(algo->archive().num_filled(), drop_some ? 3 : 5);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      GDAQD_ASSERT_OK_AND_ASSIGN(int64_t cell, algo->archive().CellIndex(outcomes[i].descriptor));
      const bool kept = outcomes[i].error.empty() && !outcomes[i].diverged;
      ASSERT_EQ(algo->archive().is_filled(cell), kept) << i;
      if (!kept) continue;
      const absl::Span<const float> stored = algo->archive().elite(cell)->params;
      EXPECT_EQ(std::vector<float>(stored.begin(), stored.end()),
                std::vector<float>(params.begin() + i * n, params.begin() + (i + 1) * n))
          << "outcome " << i << (drop_some ? " (some dropped)" : " (all kept)");
    }
  }
}

TEST(MapElitesTest, AfterTheFirstBatchChildrenComeFromTheArchive) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(SmallConfig()));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(1, &params));
  GDAQD_ASSERT_OK(algo->Tell(params, {Outcome(-1, 0.1f, 0.1f)}).status());
  std::vector<float> children;
  GDAQD_ASSERT_OK(algo->Ask(10, &children));
  // With one elite both parents are that elite: the child is the elite plus iso noise only.
  const int64_t n = algo->layout().num_params();
  for (int64_t p = 0; p < n; ++p) EXPECT_NEAR(children[p], params[p], 0.05f);
}

TEST(MapElitesTest, ShortRunFillsTheArchiveWithLocalEvaluation) {
  gdaqd::v1::ExperimentConfig config = SmallConfig();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(config));
  LocalEvaluator evaluator(1);
  EvalRequest request;
  request.env = config.env();
  request.policy = config.policy();
  request.num_params = algo->layout().num_params();
  request.descriptor_dim = 2;
  double previous_qd = 0;
  for (int i = 0; i < 10; ++i) {
    GDAQD_ASSERT_OK(algo->Ask(20, &request.params));
    request.seeds.assign(20, 0);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<EvalOutcome> outcomes,
                               evaluator.Evaluate(request, nullptr));
    GDAQD_ASSERT_OK(algo->Tell(request.params, outcomes).status());
    const double qd = ComputeQdMetrics(algo->archive(), algo->qd_offset()).qd_score;
    EXPECT_GE(qd, previous_qd);  // elitism: QD-score never decreases
    previous_qd = qd;
  }
  EXPECT_GT(algo->archive().num_filled(), 3);
}

}  // namespace
}  // namespace gdaqd::server

namespace gdaqd::server {
namespace {

TEST(MapElitesTest, CvtArchiveRunsWithLocalEvaluation) {
  auto config = common::ParseExperimentConfig(R"pb(
    env { task: "point_maze" episode_length: 30 }
    policy { hidden_sizes: [ 8 ] }
    archive { type: CVT num_centroids: 64 cvt_samples: 2000 }
    emitter { batch_size: 16 }
    budget { max_evaluations: 64 }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(*config));
  EXPECT_EQ(algo->archive().num_cells(), 64);
  LocalEvaluator evaluator(1);
  EvalRequest request;
  request.env = config->env();
  request.policy = config->policy();
  request.num_params = algo->layout().num_params();
  request.descriptor_dim = 2;
  for (int i = 0; i < 4; ++i) {
    GDAQD_ASSERT_OK(algo->Ask(16, &request.params));
    request.seeds.assign(16, 0);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<EvalOutcome> outcomes,
                               evaluator.Evaluate(request, nullptr));
    GDAQD_ASSERT_OK(algo->Tell(request.params, outcomes).status());
  }
  EXPECT_GT(algo->archive().num_filled(), 1);
}

// The checkpoint format AlgorithmCore writes for MAP-Elites is the one MAP-Elites wrote before
// the core existed (stored checkpoints must keep loading): magic, archive, selection RNG,
// random-network count, in that order, rebuilt here from checkpoint_io's pieces.
TEST(MapElitesTest, CheckpointKeepsTheHistoricalLayout) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, MapElites::Create(SmallConfig()));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(5, &params));
  std::vector<EvalOutcome> outcomes(5);
  for (int i = 0; i < 5; ++i) {
    outcomes[i].fitness = static_cast<float>(i);
    outcomes[i].descriptor = {0.3f * static_cast<float>(i) - 0.6f, 0.1f};
  }
  GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());
  GDAQD_ASSERT_OK(algo->Ask(2, &params));  // advances the selection RNG
  std::ostringstream saved;
  GDAQD_ASSERT_OK(algo->SaveCheckpoint(saved));

  // Replays the same run to know the RNG state and counter, then writes the old layout.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto twin, MapElites::Create(SmallConfig()));
  std::vector<float> twin_params;
  GDAQD_ASSERT_OK(twin->Ask(5, &twin_params));
  GDAQD_ASSERT_OK(twin->Tell(twin_params, outcomes).status());
  GDAQD_ASSERT_OK(twin->Ask(2, &twin_params));
  std::ostringstream twin_saved;
  GDAQD_ASSERT_OK(twin->SaveCheckpoint(twin_saved));
  const std::string bytes = saved.str();
  ASSERT_EQ(bytes, twin_saved.str());  // deterministic

  std::istringstream in(bytes);
  std::string magic(8, '\0');
  in.read(magic.data(), 8);
  EXPECT_EQ(magic, "GDQDME01");
  std::ostringstream expected;
  expected.write("GDQDME01", 8);
  checkpoint::WriteArchive(expected, twin->archive());
  const size_t archive_end = expected.str().size();
  ASSERT_LE(archive_end, bytes.size());
  EXPECT_EQ(bytes.substr(0, archive_end), expected.str());
  // Then the RNG (as checkpoint_io writes one) and the count of random networks drawn (5).
  std::istringstream tail(bytes.substr(archive_end));
  std::mt19937_64 rng;
  GDAQD_ASSERT_OK(checkpoint::ReadRng(tail, "rng", &rng));
  std::ostringstream rng_bytes;
  checkpoint::WriteRng(rng_bytes, rng);
  GDAQD_ASSERT_OK_AND_ASSIGN(uint64_t drawn, checkpoint::ReadU64(tail, "random policies"));
  EXPECT_EQ(drawn, 5u);
  EXPECT_EQ(archive_end + rng_bytes.str().size() + 8, bytes.size());
}

}  // namespace
}  // namespace gdaqd::server
