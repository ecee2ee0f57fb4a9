#include "server/algorithms/resource_estimate.h"

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/rl/replay_layout.h"
#include "server/models/batched_policy.h"
#include "server/models/dynamics_ensemble.h"
#include "server/models/replay_buffer.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;
using gdaqd::v1::ExperimentConfig;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kPointMaze[] = R"pb(
  env { task: "point_maze" }
  budget { max_evaluations: 1000 }
)pb";
// point_maze with the default policy [64, 64]: (2*64 + 64) + (64*64 + 64) + (64*2 + 2).
constexpr int64_t kDefaultPointMazeParams = 4482;
// An estimate and the allocation measured for it may differ by this factor (allocator overhead,
// small bookkeeping the estimate leaves out).
constexpr double kTolerance = 1.1;

// kPointMaze merged with `extra`, defaulted but not validated (so probes can be estimated).
ExperimentConfig Config(const std::string& extra) {
  ExperimentConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kPointMaze, &config));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(extra, &config)) << extra;
  common::ApplyDefaults(&config);
  return config;
}

// Bytes the process has allocated with malloc (small chunks and mmapped ones).
int64_t HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

MATCHER_P(IsWithinToleranceOf, expected, "") {
  const double ratio = static_cast<double>(arg) / static_cast<double>(expected);
  *result_listener << "ratio " << ratio;
  return ratio >= 1 / kTolerance && ratio <= kTolerance;
}

TEST(ResourceEstimateTest, DefaultMapElitesIsSmallAndAdmitted) {
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(Config("")));
  // 50 x 50 cells of fitness, descriptor, centroid (2 floats each) and params.
  EXPECT_EQ(e.archive, 2500 * (1 + 2 + 2 + kDefaultPointMazeParams) * 4);
  EXPECT_EQ(e.imagined_archive, 0);
  EXPECT_EQ(e.cvt, 0);
  EXPECT_EQ(e.replay_buffer, 0);
  EXPECT_EQ(e.models, 0);
  EXPECT_EQ(e.in_flight, 3 * 100 * kDefaultPointMazeParams * 4);
  EXPECT_EQ(e.total, e.archive + e.in_flight);
  EXPECT_EQ(e.largest_message, kResultChunkBytes);  // a 17.5 KiB policy is smaller
  GDAQD_EXPECT_OK(CheckAdmission(e, AdmissionLimits{}));
}

TEST(ResourceEstimateTest, EveryExampleIsAdmittedWithTheDefaultLimits) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(GDAQD_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".textproto") continue;
    ++examples;
    SCOPED_TRACE(entry.path().string());
    GDAQD_ASSERT_OK_AND_ASSIGN(ExperimentConfig config,
                               common::LoadExperimentConfig(entry.path().string()));
    GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
    GDAQD_EXPECT_OK(CheckAdmission(e, AdmissionLimits{})) << e.ToString();
    EXPECT_LT(e.total, int64_t{4} << 30) << e.ToString();
  }
  EXPECT_GE(examples, 6);
}

TEST(ResourceEstimateTest, GdaQdOnAntCountsEveryPart) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      ResourceEstimate e,
      EstimateExperimentResources(Config("algorithm: GDA_QD env { task: \"ant_trap\" }")));
  EXPECT_EQ(e.imagined_archive, e.archive);
  // 1e6 rows of 2 * 29 + 8 + 3 floats, a provenance byte and a slot index: ~281 MB
  // (docs/durability.md: "300 MB for a full 1e6-transition ant replay buffer").
  EXPECT_EQ(e.replay_buffer, int64_t{1'000'000} * (69 * 4 + 5));
  EXPECT_GT(e.models, e.replay_buffer);  // the ensemble's training copies of the rows
  EXPECT_GT(e.in_flight, 0);
  EXPECT_EQ(e.total,
            e.archive + e.imagined_archive + e.cvt + e.replay_buffer + e.models + e.in_flight);
  GDAQD_EXPECT_OK(CheckAdmission(e, AdmissionLimits{})) << e.ToString();
}

// TD3 keeps its transitions in a buffer sized by rl.replay_capacity (it has no pga block).
TEST(ResourceEstimateTest, Td3CountsItsReplayBuffer) {
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(Config(
                                                     "algorithm: TD3 env { task: \"ant_trap\" } "
                                                     "budget { max_env_steps: 1000 }")));
  EXPECT_EQ(e.replay_buffer, int64_t{1'000'000} * (69 * 4 + 5));
}

// DIAYN and SMERL store six more floats per row (skill, d(s), d(s'), R(tau)); SAC does not.
TEST(ResourceEstimateTest, SkillMethodsCountTheirWiderReplayRows) {
  const std::string tail = " env { task: \"ant_trap\" } budget { max_env_steps: 1000 }";
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate sac,
                             EstimateExperimentResources(Config("algorithm: SAC" + tail)));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate diayn,
                             EstimateExperimentResources(Config("algorithm: DIAYN" + tail)));
  EXPECT_EQ(sac.replay_buffer, int64_t{1'000'000} * (69 * 4 + 5));
  EXPECT_EQ(diayn.replay_buffer, int64_t{1'000'000} * ((69 + rl::kSkillExtraColumns) * 4 + 5));
}

TEST(ResourceEstimateTest, GridArchiveMatchesTheMeasuredAllocation) {
  const ExperimentConfig config = Config("archive { cells_per_dim: [100, 60] }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  const int64_t before = HeapBytes();
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<QdAlgorithm> algorithm, MakeAlgorithm(config));
  const int64_t measured = HeapBytes() - before;
  EXPECT_THAT(measured, IsWithinToleranceOf(e.archive)) << measured << " vs " << e.archive;
}

TEST(ResourceEstimateTest, CvtArchiveMatchesTheMeasuredAllocation) {
  const ExperimentConfig config =
      Config("archive { type: CVT num_centroids: 1000 cvt_samples: 10000 }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_GT(e.cvt, 10000 * 2 * 8);  // at least the samples
  const int64_t before = HeapBytes();
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<QdAlgorithm> algorithm, MakeAlgorithm(config));
  const int64_t measured = HeapBytes() - before;
  EXPECT_THAT(measured, IsWithinToleranceOf(e.archive)) << measured << " vs " << e.archive;
}

TEST(ResourceEstimateTest, ReplayBufferMatchesTheMeasuredAllocationWhenFull) {
  constexpr int64_t kCapacity = 50'000;
  const ExperimentConfig config =
      Config("algorithm: PGA_ME env { task: \"ant_trap\" } pga { replay_capacity: 50000 }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  const int row = 2 * 29 + 8 + 3;
  const std::vector<float> chunk(1000 * row, 0.5f);
  const int64_t before = HeapBytes();
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<models::ReplayBuffer> buffer,
                             models::ReplayBuffer::Create(29, 8, kCapacity));
  for (int64_t added = 0; added < kCapacity; added += 1000) {
    GDAQD_ASSERT_OK(buffer->Add(models::Provenance::kIsoline, chunk));
  }
  const int64_t measured = HeapBytes() - before;
  EXPECT_THAT(measured, IsWithinToleranceOf(e.replay_buffer))
      << measured << " vs " << e.replay_buffer;
}

TEST(ResourceEstimateTest, ParameterCountsMatchTheRealNetworks) {
  const ExperimentConfig config = Config(
      "algorithm: GDA_QD policy { hidden_sizes: [10, 6, 4] } pga { critic_hidden_sizes: [24, 12] "
      "device: \"cpu\" } model { ensemble_members: 3 ensemble_hidden_sizes: [32, 16, 8] }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ModelParamCounts counts, CountModelParams(config));

  GDAQD_ASSERT_OK_AND_ASSIGN(common::MlpLayout layout,
                             common::PolicyLayout(config.env(), config.policy()));
  EXPECT_EQ(counts.policy, layout.num_params());

  models::EnsembleConfig ensemble_config;
  ensemble_config.members = 3;
  ensemble_config.hidden = {32, 16, 8};
  ensemble_config.device = "cpu";
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<models::DynamicsEnsemble> ensemble,
                             models::DynamicsEnsemble::Create(2, 2, ensemble_config));
  int64_t ensemble_params = 0;
  for (const auto& w : ensemble->weights()) ensemble_params += w.numel();
  for (const auto& b : ensemble->biases()) ensemble_params += b.numel();
  EXPECT_EQ(counts.ensemble, ensemble_params);

  // The twin critics are one BatchedPolicies of two (obs ++ action) -> hidden -> 1 networks.
  models::PolicyShape critic{.obs_dim = 2 + 2, .hidden = {24, 12}, .action_dim = 1};
  EXPECT_EQ(counts.critic, 2 * critic.num_params());
}

TEST(ResourceEstimateTest, TrainedEnsembleHoldsFourFloatsPerParameter) {
  // Weights, gradients and Adam's two moments persist after training; the estimate's models part
  // counts them as 4 x params floats.
  const ExperimentConfig config = Config("algorithm: DA_QD_EXT pga { device: \"cpu\" }");
  GDAQD_ASSERT_OK_AND_ASSIGN(ModelParamCounts counts, CountModelParams(config));
  models::EnsembleConfig ensemble_config;  // defaults: 4 members of [512, 512], as the config
  ensemble_config.device = "cpu";
  ensemble_config.max_steps = 10;
  std::vector<float> rows(300 * 9);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  for (float& v : rows) v = normal(rng);
  const int64_t before = HeapBytes();
  {
    GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<models::DynamicsEnsemble> ensemble,
                               models::DynamicsEnsemble::Create(2, 2, ensemble_config));
    GDAQD_ASSERT_OK(ensemble->Train(rows, rng).status());
    const int64_t measured = HeapBytes() - before;
    EXPECT_THAT(measured, IsWithinToleranceOf(4 * counts.ensemble * 4))
        << measured << " vs " << 4 * counts.ensemble * 4;
  }
}

// --- The probes of issue 8, each refused with the limit named. ---

TEST(ResourceEstimateTest, Grid978x978IsRefusedByMaxExperimentBytes) {
  const ExperimentConfig config = Config("archive { cells_per_dim: [978, 978] }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));  // passes validation...
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_THAT(CheckAdmission(e, AdmissionLimits{}),  // ...but not admission
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("experiment needs ~16."), HasSubstr("archive 16.0 GiB"),
                             HasSubstr("more than --max_experiment_bytes 8.0 GiB"))));
}

TEST(ResourceEstimateTest, Grid3162x3162IsRefusedAtSubmitNotLater) {
  const ExperimentConfig config = Config("archive { cells_per_dim: [3162, 3162] }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_THAT(CheckAdmission(e, AdmissionLimits{}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("more than --max_experiment_bytes 8.0 GiB")));
}

TEST(ResourceEstimateTest, HugeCvtSamplesAreRefusedByValidationAndAdmission) {
  const ExperimentConfig config = Config("archive { type: CVT cvt_samples: 2147483647 }");
  EXPECT_THAT(common::ValidateExperimentConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("archive.cvt_samples")));
  // Admission alone would refuse it too: 2^31 samples of k-means state.
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_GT(e.cvt, int64_t{2147483647} * 5 * 8 - 1);
  EXPECT_THAT(CheckAdmission(e, AdmissionLimits{}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("CVT k-means"), HasSubstr("--max_experiment_bytes"))));
}

TEST(ResourceEstimateTest, EightLayersOf4096AreRefusedByTheMessageLimit) {
  const ExperimentConfig config =
      Config("policy { hidden_sizes: [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096] }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_GT(e.largest_message, int64_t{400} << 20);  // ~117e6 floats per episode
  EXPECT_THAT(CheckAdmission(e, AdmissionLimits{}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("largest message"), HasSubstr("gRPC message limit"))));
  // Even with no message limit, the archive of such policies does not fit.
  AdmissionLimits no_message_limit;
  no_message_limit.max_message_bytes = 0;
  EXPECT_THAT(CheckAdmission(e, no_message_limit),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("--max_experiment_bytes")));
}

TEST(ResourceEstimateTest, PolicyOf4096x1024IsRefusedByTheMessageLimitEvenInATinyArchive) {
  // 4,209,666 parameters = 16.8 MB per episode, over the 16 MiB gRPC limit: workers could never
  // receive an assignment.
  const ExperimentConfig config =
      Config("policy { hidden_sizes: [4096, 1024] } archive { cells_per_dim: [2, 2] }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_EQ(e.largest_message, int64_t{4'209'666} * 4 + 1024);
  EXPECT_LT(e.total, kDefaultMaxExperimentBytes);  // it is the message, not the memory
  EXPECT_THAT(CheckAdmission(e, AdmissionLimits{}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("~16.1 MiB"), HasSubstr("gRPC message limit 15.9 MiB"),
                             HasSubstr("policy.hidden_sizes"))));
}

TEST(ResourceEstimateTest, MemoryBudgetCountsTheOtherExperiments) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      ResourceEstimate e,
      EstimateExperimentResources(Config("archive { cells_per_dim: [300, 300] }")));
  ASSERT_GT(e.total, int64_t{1} << 30);
  AdmissionLimits limits;
  limits.committed_bytes = int64_t{15} << 30;
  EXPECT_THAT(CheckAdmission(e, limits),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("more than the 1.0 GiB left of --memory_budget 16.0 GiB"),
                             HasSubstr("15.0 GiB held by other experiments"))));
  limits.committed_bytes = int64_t{20} << 30;  // over-committed: nothing left
  EXPECT_THAT(CheckAdmission(e, limits),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("more than the 0 B left")));
  limits.committed_bytes = int64_t{1} << 30;
  GDAQD_EXPECT_OK(CheckAdmission(e, limits));
  limits.committed_bytes = int64_t{20} << 30;
  limits.memory_budget_bytes = 0;  // no budget
  GDAQD_EXPECT_OK(CheckAdmission(e, limits));
}

TEST(ResourceEstimateTest, ExtremeConfigSaturatesWithoutOverflow) {
  const std::string wide = "[4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096]";
  const ExperimentConfig config = Config(
      "algorithm: GDA_QD initial_population: 100000 env { episode_length: 100000 }"
      " policy { hidden_sizes: " +
      wide +
      " } archive { cells_per_dim: [1, 10000000] }"
      " emitter { batch_size: 100000 } pga { critic_hidden_sizes: " +
      wide +
      " replay_capacity: 2147483648 critic_steps: 1000000 critic_batch_size: 100000"
      " pg_steps: 1000000 device: \"cpu\" } model { p_gradient: 1 ensemble_members: 64"
      " ensemble_hidden_sizes: " +
      wide +
      " imagined_batch_size: 100000"
      " train_batch_size: 100000 }");
  GDAQD_ASSERT_OK(common::ValidateExperimentConfig(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  for (int64_t part : {e.archive, e.imagined_archive, e.replay_buffer, e.models, e.in_flight}) {
    EXPECT_GT(part, 0);
    EXPECT_LE(part, e.total);
  }
  EXPECT_LE(e.total, int64_t{1} << 62);
  EXPECT_THAT(CheckAdmission(e, AdmissionLimits{}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("experiment")));
}

TEST(ResourceEstimateTest, UnvalidatedExtremesDoNotOverflow) {
  // Found by config_fuzzer: 3 * train_batch_size overflowed int. Every count is now a double.
  ExperimentConfig config = Config("algorithm: GDA_QD pga { device: \"cpu\" }");
  constexpr int32_t kMax = 2147483647;
  config.mutable_model()->set_train_batch_size(kMax);
  config.mutable_model()->set_ensemble_members(kMax);
  config.mutable_model()->set_imagined_batch_size(kMax);
  config.mutable_model()->set_p_gradient(std::numeric_limits<float>::quiet_NaN());
  config.mutable_pga()->set_critic_steps(kMax);
  config.mutable_pga()->set_critic_batch_size(-kMax);
  config.mutable_pga()->set_replay_capacity(std::numeric_limits<int64_t>::max());
  config.mutable_emitter()->set_batch_size(kMax);
  config.set_initial_population(-1);
  config.mutable_archive()->clear_cells_per_dim();
  for (int i = 0; i < 2; ++i) config.mutable_archive()->add_cells_per_dim(kMax);
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e, EstimateExperimentResources(config));
  EXPECT_EQ(e.total, int64_t{1} << 62);
  EXPECT_EQ(e.archive, int64_t{1} << 62);
  EXPECT_GT(e.in_flight, 0);
}

TEST(ResourceEstimateTest, ToStringNamesTheNonZeroPartsAndTheTotal) {
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate e,
                             EstimateExperimentResources(Config("algorithm: PGA_ME")));
  const std::string text = e.ToString();
  EXPECT_THAT(text, ::testing::StartsWith("archive "));
  EXPECT_THAT(text,
              AllOf(HasSubstr(" + replay buffer "), HasSubstr(" + models "),
                    HasSubstr(" + in flight "), ::testing::EndsWith(" = " + FormatBytes(e.total))));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("imagined")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("CVT")));
}

TEST(ResourceEstimateTest, FormatBytesUsesBinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(270 * 1024 * 1024), "270.0 MiB");
  EXPECT_EQ(FormatBytes(kDefaultMaxExperimentBytes), "8.0 GiB");
  EXPECT_EQ(FormatBytes(int64_t{1} << 62), "4.0 EiB");
}

TEST(ResourceEstimateTest, UnknownTaskIsInvalidArgument) {
  ExperimentConfig config = Config("");
  config.mutable_env()->set_task("moon_maze");
  EXPECT_THAT(EstimateExperimentResources(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("moon_maze")));
}

}  // namespace
}  // namespace gdaqd::server
