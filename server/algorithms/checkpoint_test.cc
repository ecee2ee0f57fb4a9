// Every algorithm continues from a checkpoint exactly where it was saved: a restored copy
// proposes the same batches as the original from then on, and bad checkpoints change nothing.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

// Tiny settings shared by all four algorithms (seconds on 2 cores).
constexpr char kTinyCommon[] = R"pb(
  env { task: "point_maze" episode_length: 30 }
  policy { hidden_sizes: [ 8 ] }
  archive { cells_per_dim: [ 10, 10 ] }
  emitter { batch_size: 10 iso_sigma: 0.05 line_sigma: 0.2 }
  budget { max_evaluations: 100 }
  seed: 9
)pb";
constexpr char kTinyCritic[] = R"pb(
  pga {
    critic_hidden_sizes: [ 16, 16 ]
    critic_steps: 5
    pg_steps: 3
    critic_batch_size: 20
    device: "cpu"
  }
)pb";
constexpr char kTinyModel[] = R"pb(
  model {
    ensemble_hidden_sizes: [ 32, 32 ]
    max_train_steps: 50
    train_batch_size: 32
    imagined_batch_size: 16
    imagined_generations: 10
    retrain_every: 2
  }
)pb";

constexpr char kTinyRl[] = R"pb(
  rl {
    critic_hidden_sizes: [ 16, 16 ]
    batch_size: 16
    warmup_steps: 30
    publish_every: 4
    episodes_per_round: 10
    eval_every: 2
    device: "cpu"
  }
)pb";

gdaqd::v1::ExperimentConfig Config(const std::string& algorithm) {
  std::string text = absl::StrCat("algorithm: ", algorithm, kTinyCommon);
  const bool rl =
      algorithm == "TD3" || algorithm == "SAC" || algorithm == "DIAYN" || algorithm == "SMERL";
  if (rl) {
    absl::StrAppend(&text, kTinyRl);
    // DIAYN and SMERL's discriminator, inside the one rl block.
    if (algorithm == "DIAYN" || algorithm == "SMERL") {
      text = absl::StrReplaceAll(
          text, {{"warmup_steps: 30", "warmup_steps: 30 discriminator_hidden_sizes: [ 16 ]"}});
    }
    // The RL methods' budget is environment steps (both bounds may be set; one block only).
    text = absl::StrReplaceAll(text, {{"budget { max_evaluations: 100 }",
                                       "budget { max_evaluations: 100 max_env_steps: 100000 }"}});
  }
  if (algorithm == "PGA_ME" || algorithm == "GDA_QD") absl::StrAppend(&text, kTinyCritic);
  if (algorithm == "DA_QD_EXT") absl::StrAppend(&text, "pga { device: \"cpu\" }");
  if (algorithm == "DA_QD_EXT" || algorithm == "GDA_QD") absl::StrAppend(&text, kTinyModel);
  auto config = common::ParseExperimentConfig(text);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// Ask 10, evaluate, Tell, Learn; returns what was asked.
std::vector<float> Round(QdAlgorithm& algo, const gdaqd::v1::ExperimentConfig& config,
                         LocalEvaluator& evaluator) {
  EvalRequest request;
  request.env = config.env();
  request.policy = config.policy();
  request.record_transitions = algo.needs_transitions();
  request.num_params = algo.layout().num_params();
  request.descriptor_dim = 2;
  // The batch the algorithm wants (an RL round may be smaller) with its per-episode plan.
  const int64_t count = algo.NextBatchSize(10);
  EpisodePlan plan;
  EXPECT_TRUE(algo.AskEpisodes(count, &request.params, &plan).ok());
  request.episode_options = plan.options;
  request.actor_version = plan.actor_version;
  request.seeds.assign(count, 0);
  auto outcomes = evaluator.Evaluate(request, nullptr);
  EXPECT_TRUE(outcomes.ok());
  EXPECT_TRUE(algo.Tell(request.params, *outcomes).ok());
  EXPECT_TRUE(algo.Learn().ok());
  return request.params;
}

class CheckpointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CheckpointTest, RestoredAlgorithmContinuesIdentically) {
  const gdaqd::v1::ExperimentConfig config = Config(GetParam());
  LocalEvaluator evaluator(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto original, MakeAlgorithm(config));
  for (int i = 0; i < 3; ++i) Round(*original, config, evaluator);
  std::stringstream saved;
  GDAQD_ASSERT_OK(original->SaveCheckpoint(saved));
  std::vector<std::vector<float>> want;
  for (int i = 0; i < 3; ++i) want.push_back(Round(*original, config, evaluator));

  const std::string saved_bytes = saved.str();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto restored, MakeAlgorithm(config));
  GDAQD_ASSERT_OK(restored->RestoreCheckpoint(saved));
  // The restored state writes exactly the bytes it was read from: nothing in a checkpoint
  // depends on the process (addresses, clocks) or is lost on the way.
  std::stringstream resaved;
  GDAQD_ASSERT_OK(restored->SaveCheckpoint(resaved));
  EXPECT_TRUE(resaved.str() == saved_bytes) << "a restored checkpoint writes other bytes";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Round(*restored, config, evaluator), want[i]) << "round " << i << " after restore";
  }
  EXPECT_EQ(restored->archive().num_filled(), original->archive().num_filled());
  // Counters continue from the checkpoint (seconds and losses are timings / of the last call).
  const std::vector<Metric> a = original->metrics(), b = restored->metrics();
  ASSERT_EQ(a.size(), b.size());
  for (const char* name : {"imagined_evaluations", "model_train_calls", "critic_train_calls",
                           "rejected_transition_episodes", "updates", "actor_version", "env_steps",
                           "es_generations"}) {
    EXPECT_EQ(FindMetric(a, name), FindMetric(b, name)) << name;
  }
}

// The coordinator checkpoints on shutdown while a batch is out for evaluation: the state after
// Ask() (with its batch) must let Tell() do exactly what the original does.
TEST_P(CheckpointTest, CheckpointBetweenAskAndTellContinuesIdentically) {
  const gdaqd::v1::ExperimentConfig config = Config(GetParam());
  LocalEvaluator evaluator(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto original, MakeAlgorithm(config));
  for (int i = 0; i < 2; ++i) Round(*original, config, evaluator);
  EvalRequest request;
  request.env = config.env();
  request.policy = config.policy();
  request.record_transitions = original->needs_transitions();
  request.num_params = original->layout().num_params();
  request.descriptor_dim = 2;
  const int64_t count = original->NextBatchSize(10);
  EpisodePlan plan;
  GDAQD_ASSERT_OK(original->AskEpisodes(count, &request.params, &plan));
  request.episode_options = plan.options;
  request.actor_version = plan.actor_version;
  std::stringstream saved;
  GDAQD_ASSERT_OK(original->SaveCheckpoint(saved));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto restored, MakeAlgorithm(config));
  GDAQD_ASSERT_OK(restored->RestoreCheckpoint(saved));
  request.seeds.assign(count, 0);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto outcomes, evaluator.Evaluate(request, nullptr));
  GDAQD_ASSERT_OK(original->Tell(request.params, outcomes).status());
  GDAQD_ASSERT_OK(restored->Tell(request.params, outcomes).status());
  GDAQD_ASSERT_OK(original->Learn());
  GDAQD_ASSERT_OK(restored->Learn());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Round(*restored, config, evaluator), Round(*original, config, evaluator))
        << "round " << i << " after the mid-iteration restore";
  }
  EXPECT_EQ(restored->archive().num_filled(), original->archive().num_filled());
}

TEST_P(CheckpointTest, BadCheckpointsAreRefusedAndChangeNothing) {
  const gdaqd::v1::ExperimentConfig config = Config(GetParam());
  LocalEvaluator evaluator(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto original, MakeAlgorithm(config));
  for (int i = 0; i < 2; ++i) Round(*original, config, evaluator);
  std::stringstream saved;
  GDAQD_ASSERT_OK(original->SaveCheckpoint(saved));
  const std::string bytes = saved.str();

  GDAQD_ASSERT_OK_AND_ASSIGN(auto fresh, MakeAlgorithm(config));
  for (size_t cut : {size_t{4}, size_t{20}, bytes.size() / 2, bytes.size() - 3}) {
    std::istringstream truncated(bytes.substr(0, cut));
    EXPECT_FALSE(fresh->RestoreCheckpoint(truncated).ok()) << "cut at " << cut;
    EXPECT_EQ(fresh->archive().num_filled(), 0) << "cut at " << cut;
  }
  std::istringstream garbage("definitely not a checkpoint");
  EXPECT_THAT(fresh->RestoreCheckpoint(garbage),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint")));
  // Another algorithm's checkpoint.
  const std::string other = std::string(GetParam()) == "MAP_ELITES" ? "GDA_QD" : "MAP_ELITES";
  const gdaqd::v1::ExperimentConfig other_config = Config(other);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto other_algo, MakeAlgorithm(other_config));
  Round(*other_algo, other_config, evaluator);
  std::stringstream other_saved;
  GDAQD_ASSERT_OK(other_algo->SaveCheckpoint(other_saved));
  EXPECT_THAT(fresh->RestoreCheckpoint(other_saved),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a GDQD")));
  EXPECT_EQ(fresh->archive().num_filled(), 0);
  // And the intact one still restores.
  std::istringstream intact(bytes);
  GDAQD_EXPECT_OK(fresh->RestoreCheckpoint(intact));
  EXPECT_EQ(fresh->archive().num_filled(), original->archive().num_filled());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, CheckpointTest,
                         ::testing::Values("MAP_ELITES", "PGA_ME", "DA_QD_EXT", "GDA_QD", "ES",
                                           "NS_ES", "NSR_ES", "NSRA_ES", "ME_ES", "TD3", "SAC",
                                           "DIAYN", "SMERL"));

}  // namespace
}  // namespace gdaqd::server
