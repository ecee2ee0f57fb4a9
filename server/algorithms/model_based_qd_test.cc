#include "server/algorithms/model_based_qd.h"

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/algorithms/experiment.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using models::Provenance;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::StartsWith;
using testing::StatusIs;

// Small enough to run in seconds on 2 cores: 30-step PointMaze, (8) policies, a (32, 32)
// ensemble trained for at most 100 steps, a (16, 16) critic.
constexpr char kTiny[] = R"pb(
  algorithm: GDA_QD
  env { task: "point_maze" episode_length: 30 }
  policy { hidden_sizes: [ 8 ] }
  archive { cells_per_dim: [ 10, 10 ] }
  emitter { batch_size: 10 iso_sigma: 0.05 line_sigma: 0.2 }
  budget { max_evaluations: 60 }
  seed: 5
  pga {
    critic_hidden_sizes: [ 16, 16 ]
    critic_steps: 5
    pg_steps: 3
    critic_batch_size: 20
    device: "cpu"
  }
  model {
    ensemble_hidden_sizes: [ 32, 32 ]
    max_train_steps: 100
    train_batch_size: 32
    imagined_batch_size: 16
    imagined_generations: 20
    retrain_every: 2
  }
)pb";

// DA_QD_EXT has no critic and refuses critic settings: keep only the pga fields it reads.
void DropCriticIfNone(gdaqd::v1::ExperimentConfig* config) {
  if (config->algorithm() != gdaqd::v1::DA_QD_EXT) return;
  const std::string device = config->pga().device();
  config->clear_pga();
  config->mutable_pga()->set_device(device);
}

gdaqd::v1::ExperimentConfig TinyConfig(const std::string& extra = "") {
  gdaqd::v1::ExperimentConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kTiny, &config));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(extra, &config));
  DropCriticIfNone(&config);
  common::ApplyDefaults(&config);
  EXPECT_TRUE(common::ValidateExperimentConfig(config).ok());
  return config;
}

absl::Status ValidateTinyWith(const std::string& text) {
  gdaqd::v1::ExperimentConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(kTiny, &config) ||
      !google::protobuf::TextFormat::MergeFromString(text, &config)) {
    return absl::InternalError("test config does not parse");
  }
  DropCriticIfNone(&config);
  common::ApplyDefaults(&config);
  return common::ValidateExperimentConfig(config);
}

int64_t CountOf(const std::vector<Provenance>& provenance, Provenance p) {
  int64_t n = 0;
  for (Provenance q : provenance) n += q == p ? 1 : 0;
  return n;
}

// Runs `generations` Ask/Evaluate/Tell rounds of `count` policies.
class Loop {
 public:
  explicit Loop(const gdaqd::v1::ExperimentConfig& config) : evaluator_(2) {
    request_.env = config.env();
    request_.policy = config.policy();
    request_.record_transitions = true;
    request_.descriptor_dim = 2;
  }
  absl::Status Round(ModelBasedQd& algo, int64_t count) {
    if (absl::Status s = Ask(algo, count); !s.ok()) return s;
    return EvaluateAndTell(algo);
  }
  absl::Status Ask(ModelBasedQd& algo, int64_t count) {
    request_.num_params = algo.layout().num_params();
    request_.seeds.assign(count, 0);
    return algo.Ask(count, &request_.params);
  }
  absl::Status EvaluateAndTell(ModelBasedQd& algo) {
    absl::StatusOr<std::vector<EvalOutcome>> outcomes = evaluator_.Evaluate(request_, nullptr);
    if (!outcomes.ok()) return outcomes.status();
    if (absl::Status told = algo.Tell(request_.params, *outcomes).status(); !told.ok()) return told;
    return algo.Learn();
  }
  const std::vector<float>& params() const { return request_.params; }

 private:
  LocalEvaluator evaluator_;
  EvalRequest request_;
};

// `n` outcomes with descriptors (x0 + i * dx, y) and `length` transition rows of `row_size`
// floats from `value(row, column)`.
std::vector<EvalOutcome> SyntheticOutcomes(int64_t n, int length, int row_size, float x0, float dx,
                                           float y, const std::function<float(int, int)>& value) {
  std::vector<EvalOutcome> outcomes(n);
  for (int64_t i = 0; i < n; ++i) {
    outcomes[i].fitness = static_cast<float>(i);
    outcomes[i].descriptor = {x0 + dx * static_cast<float>(i), y};
    outcomes[i].length = length;
    outcomes[i].transitions.resize(static_cast<size_t>(length) * row_size);
    for (int r = 0; r < length; ++r) {
      for (int c = 0; c < row_size; ++c) outcomes[i].transitions[r * row_size + c] = value(r, c);
    }
  }
  return outcomes;
}

// Tells `algo` one batch of 100 AntTrap-sized synthetic episodes (250 steps of N(0, 1) rows),
// then calls Learn() while another thread raises `interrupt` 300 ms in; returns the time from
// raising the flag to Learn() returning, and its status in *learned.
absl::Duration InterruptedAntLearn(ModelBasedQd& algo, CancelFlag& interrupt,
                                   absl::Status* learned) {
  std::vector<float> params;
  EXPECT_TRUE(algo.Ask(100, &params).ok());
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  const std::vector<EvalOutcome> outcomes =
      SyntheticOutcomes(100, 250, algo.replay_buffer().row_size(), 1.0f, 0.25f, 0.0f,
                        [&](int, int) { return normal(rng); });
  EXPECT_TRUE(algo.Tell(params, outcomes).ok());
  absl::Time raised_at = absl::InfiniteFuture();
  absl::Time returned_at;
  {
    common::Thread raiser("raise-interrupt", [&] {
      absl::SleepFor(absl::Milliseconds(300));
      raised_at = absl::Now();
      interrupt = true;
    });
    *learned = algo.Learn();
    returned_at = absl::Now();
  }  // joined: raised_at is written
  return returned_at - raised_at;
}

TEST(ModelConfigTest, DefaultsFollowTheDesign) {
  auto config = common::ParseExperimentConfig(R"pb(
    algorithm: GDA_QD
    env { task: "point_maze" }
    budget { max_evaluations: 100 }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  const gdaqd::v1::ModelConfig& model = config->model();
  EXPECT_FLOAT_EQ(model.p_gradient(), 0.1f);
  EXPECT_EQ(model.imagined_batch_size(), 32);
  EXPECT_EQ(model.imagined_generations(), 100);
  EXPECT_TRUE(model.sample_predictions());
  EXPECT_TRUE(model.has_terminate_imagined());
  EXPECT_FALSE(model.terminate_imagined());  // the DA-QD reference never stops imagined rollouts
  EXPECT_EQ(model.ensemble_members(), 4);
  EXPECT_THAT(model.ensemble_hidden_sizes(), ::testing::ElementsAre(512, 512));
  EXPECT_FLOAT_EQ(model.ensemble_lr(), 1e-3f);
  EXPECT_FLOAT_EQ(model.min_log_std(), -4.0f);
  EXPECT_FLOAT_EQ(model.max_log_std(), 1.0f);
  EXPECT_FLOAT_EQ(model.holdout_fraction(), 0.1f);
  EXPECT_EQ(model.patience(), 10);
  EXPECT_FLOAT_EQ(model.min_improvement(), 0.01f);
  EXPECT_EQ(model.max_train_steps(), 2000);
  EXPECT_EQ(model.retrain_every(), 1);  // Algorithm 1, line 17: after every real iteration
  EXPECT_EQ(model.training_data(), gdaqd::v1::D_MODEL);
  // The critic side is PGA-ME's.
  EXPECT_EQ(config->pga().critic_steps(), 300);
  EXPECT_EQ(config->pga().pg_steps(), 100);

  auto da = common::ParseExperimentConfig(R"pb(
    algorithm: DA_QD_EXT
    env { task: "ant_trap" }
    budget { max_evaluations: 100 }
  )pb");
  ASSERT_TRUE(da.ok()) << da.status();
  EXPECT_EQ(da->model().p_gradient(), 0.0f);
}

TEST(ModelConfigTest, ValidationNamesTheField) {
  EXPECT_THAT(ValidateTinyWith("algorithm: DA_QD_EXT model { p_gradient: 0.5 }"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("model.p_gradient:")));
  EXPECT_THAT(ValidateTinyWith("model { p_gradient: 1.5 }"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("model.p_gradient:")));
  EXPECT_THAT(
      ValidateTinyWith("model { imagined_batch_size: -1 }"),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("model.imagined_batch_size:")));
  EXPECT_THAT(
      ValidateTinyWith("model { ensemble_hidden_sizes: 0 }"),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("model.ensemble_hidden_sizes[2]:")));
  EXPECT_THAT(ValidateTinyWith("model { min_log_std: 2 max_log_std: 1 }"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("model.max_log_std:")));
  EXPECT_THAT(ValidateTinyWith("model { holdout_fraction: 0.95 }"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("model.holdout_fraction:")));
  // p_gradient 0 is a valid explicit GDA_QD setting (not replaced by the default).
  GDAQD_EXPECT_OK(ValidateTinyWith("model { p_gradient: 0 }"));
  EXPECT_EQ(TinyConfig("model { p_gradient: 0 }").model().p_gradient(), 0.0f);
}

TEST(ModelBasedQdTest, TrainingFilterFollowsThePaper) {
  using models::ProvenanceBit;
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(TinyConfig()));
  const models::ProvenanceMask d_model = algo->training_filter();
  EXPECT_TRUE(d_model & ProvenanceBit(Provenance::kInitial));
  EXPECT_TRUE(d_model & ProvenanceBit(Provenance::kModel));
  EXPECT_TRUE(d_model & ProvenanceBit(Provenance::kIsoline));
  EXPECT_FALSE(d_model & ProvenanceBit(Provenance::kGradient));
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto gradient, ModelBasedQd::Create(TinyConfig("model { training_data: D_GRADIENT }")));
  EXPECT_TRUE(gradient->training_filter() & ProvenanceBit(Provenance::kGradient));
  EXPECT_TRUE(gradient->training_filter() & ProvenanceBit(Provenance::kInitial));
  EXPECT_FALSE(gradient->training_filter() & ProvenanceBit(Provenance::kModel));
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto both, ModelBasedQd::Create(TinyConfig("model { training_data: D_MODEL_AND_GRADIENT }")));
  EXPECT_EQ(both->training_filter(), models::kAllProvenances);
}

TEST(ModelBasedQdTest, GdaQdBatchesAreImaginedAdditionsPlusGradientChildren) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
  Loop loop(config);
  GDAQD_ASSERT_OK(loop.Round(*algo, 10));
  EXPECT_EQ(CountOf(algo->last_provenance(), Provenance::kInitial), 0);  // cleared by Tell
  EXPECT_THAT(FindMetric(algo->metrics(), "model_train_calls"),
              Optional(1.0));  // trained on the initial population
  EXPECT_THAT(FindMetric(algo->metrics(), "critic_train_calls"), Optional(1.0));
  int64_t model_children = 0;
  for (int generation = 1; generation <= 4; ++generation) {
    SCOPED_TRACE(generation);
    // Ask and inspect before Tell clears the provenance.
    GDAQD_ASSERT_OK(loop.Ask(*algo, 10));
    const ModelBatchComposition& batch = algo->last_composition();
    EXPECT_EQ(batch.model + batch.isoline + batch.gradient, 10);
    EXPECT_EQ(batch.gradient, 1);  // round(0.1 x 10)
    const ImaginationReport& imagined = algo->last_imagination();
    EXPECT_GT(imagined.evaluated, 0);
    EXPECT_EQ(imagined.evaluated, imagined.generations * 16);
    // Imagination stops as soon as 9 were added, or after 20 generations.
    EXPECT_TRUE(imagined.added >= 9 || imagined.generations == 20);
    EXPECT_EQ(batch.model, std::min<int64_t>(imagined.added, 9));
    const std::vector<Provenance>& provenance = algo->last_provenance();
    ASSERT_EQ(provenance.size(), 10u);
    EXPECT_EQ(CountOf(provenance, Provenance::kModel), batch.model);
    EXPECT_EQ(CountOf(provenance, Provenance::kIsoline), batch.isoline);
    EXPECT_EQ(provenance.back(), Provenance::kGradient);
    model_children += batch.model;
    GDAQD_ASSERT_OK(loop.EvaluateAndTell(*algo));
  }
  EXPECT_GT(model_children, 0);
  EXPECT_GT(FindMetric(algo->metrics(), "imagined_evaluations").value_or(0), 0);
}

TEST(ModelBasedQdTest, GradientParentsAreDistinctImaginedAdditions) {
  // Half the batch from the critic: 5 gradient children from about 5 imagined additions, where
  // drawing parents with replacement almost surely repeats one (5!/5^5 = 4 % chance not to).
  const gdaqd::v1::ExperimentConfig config = TinyConfig("model { p_gradient: 0.5 }");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
  Loop loop(config);
  GDAQD_ASSERT_OK(loop.Round(*algo, 10));
  const int64_t num_params = algo->layout().num_params();
  int checked = 0;
  for (int generation = 1; generation <= 4; ++generation) {
    SCOPED_TRACE(generation);
    GDAQD_ASSERT_OK(loop.Ask(*algo, 10));
    const ModelBatchComposition& batch = algo->last_composition();
    ASSERT_EQ(batch.gradient, 5);
    if (algo->last_imagination().added >= batch.gradient) {
      // The gradient children are the batch's last rows; distinct parents, distinct children.
      const std::vector<float>& params = loop.params();
      const int64_t first = 10 - batch.gradient;
      for (int64_t a = first; a < 10; ++a) {
        for (int64_t b = a + 1; b < 10; ++b) {
          EXPECT_FALSE(std::equal(params.begin() + a * num_params,
                                  params.begin() + (a + 1) * num_params,
                                  params.begin() + b * num_params))
              << "gradient children " << a << " and " << b << " are identical";
        }
      }
      ++checked;
    }
    GDAQD_ASSERT_OK(loop.EvaluateAndTell(*algo));
  }
  EXPECT_GT(checked, 0);
}

TEST(ModelBasedQdTest, TransitionsAreStoredByProvenanceAndTrainTheModel) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
  Loop loop(config);
  for (int generation = 0; generation < 5; ++generation) GDAQD_ASSERT_OK(loop.Round(*algo, 10));
  const models::ReplayBuffer& buffer = algo->replay_buffer();
  EXPECT_GT(buffer.size(models::ProvenanceBit(Provenance::kInitial)), 0);
  EXPECT_GT(buffer.size(models::ProvenanceBit(Provenance::kModel)), 0);
  EXPECT_GT(buffer.size(models::ProvenanceBit(Provenance::kGradient)), 0);
  EXPECT_EQ(buffer.size(models::ProvenanceBit(Provenance::kGreedy)), 0);
  const std::vector<Metric> metrics = algo->metrics();
  GDAQD_EXPECT_OK(CheckMetrics(algo->metric_specs(), &metrics));
  const auto metric = [&](absl::string_view name) {
    return FindMetric(metrics, name).value_or(std::numeric_limits<double>::quiet_NaN());
  };
  // Trained after the initial population, then every 2 iterations: after Tells 1, 3, 5.
  EXPECT_EQ(metric("model_train_calls"), 3);
  EXPECT_EQ(metric("critic_train_calls"), 5);
  EXPECT_TRUE(std::isfinite(metric("model_holdout_loss")));
  EXPECT_TRUE(std::isfinite(metric("model_holdout_mse")));
  EXPECT_TRUE(std::isfinite(metric("critic_loss")));
  EXPECT_GT(metric("imagination_seconds"), 0);
  EXPECT_EQ(metric("rejected_transition_episodes"), 0);
  EXPECT_GT(algo->archive().num_filled(), 3);
}

TEST(ModelBasedQdTest, DaQdExtNeverMakesGradientChildren) {
  const gdaqd::v1::ExperimentConfig config =
      TinyConfig("algorithm: DA_QD_EXT model { p_gradient: 0 }");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
  Loop loop(config);
  for (int generation = 0; generation < 4; ++generation) GDAQD_ASSERT_OK(loop.Round(*algo, 10));
  EXPECT_EQ(algo->replay_buffer().size(models::ProvenanceBit(Provenance::kGradient)), 0);
  EXPECT_GT(algo->replay_buffer().size(models::ProvenanceBit(Provenance::kModel)), 0);
  EXPECT_THAT(FindMetric(algo->metrics(), "critic_train_calls"), Optional(0.0));
  EXPECT_TRUE(std::isnan(FindMetric(algo->metrics(), "critic_loss").value_or(0)));
}

TEST(ModelBasedQdTest, SameSeedSameRun) {
  const gdaqd::v1::ExperimentConfig config =
      TinyConfig("algorithm: DA_QD_EXT model { p_gradient: 0 }");
  std::vector<float> last[2];
  for (int run = 0; run < 2; ++run) {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
    Loop loop(config);
    for (int generation = 0; generation < 3; ++generation) {
      GDAQD_ASSERT_OK(loop.Round(*algo, 10));
    }
    last[run] = loop.params();
  }
  EXPECT_EQ(last[0], last[1]);
}

TEST(ModelBasedQdTest, ExperimentReportsImaginationAndLosses) {
  LocalEvaluator evaluator(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment,
                             Experiment::Create(1, TinyConfig(), &evaluator, ExperimentOptions()));
  experiment->Start();
  ASSERT_TRUE(experiment->WaitFinished(absl::Seconds(120)));
  const gdaqd::v1::ExperimentStatus status = experiment->Status();
  ASSERT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  const gdaqd::v1::ProgressSnapshot& progress = status.progress();
  EXPECT_EQ(progress.evaluations(), 60);
  EXPECT_GT(progress.imagined_evaluations(), 0);
  EXPECT_TRUE(std::isfinite(progress.model_holdout_loss()));
  EXPECT_TRUE(std::isfinite(progress.critic_loss()));
  EXPECT_GT(progress.evaluation_seconds(), 0);
  EXPECT_GT(progress.training_seconds(), 0);
  EXPECT_GE(progress.model_train_calls(), 1);
}

TEST(ModelBasedQdTest, ExtremeTransitionsFailTheDynamicsModelNamingTheGeneration) {
  const gdaqd::v1::ExperimentConfig config =
      TinyConfig("algorithm: DA_QD_EXT model { p_gradient: 0 }");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  // obs[0] = -3e38 and next_obs[0] = +3e38: finite values whose state delta overflows float32.
  const int row_size = algo->replay_buffer().row_size();
  const std::vector<EvalOutcome> outcomes = SyntheticOutcomes(
      10, 30, row_size, -0.9f, 0.18f, 0.5f,
      [](int, int c) { return c == 0 ? -3e38f : (c == 2 + 2 + 1 ? 3e38f : 0.1f); });
  GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());  // stored: the values are finite
  EXPECT_THAT(algo->Learn(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(StartsWith("dynamics model training loss became non-finite"),
                             HasSubstr("at generation 1; the replay buffer may hold extreme"))));
}

TEST(ModelBasedQdTest, InterruptedAskAndLearnReturnCancelled) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  CancelFlag interrupt{false};
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config, &interrupt));
  Loop loop(config);
  GDAQD_ASSERT_OK(loop.Round(*algo, 10));  // trains the critic and the ensemble
  GDAQD_ASSERT_OK(loop.Ask(*algo, 10));
  const std::vector<float> told = loop.params();
  interrupt = true;
  const std::vector<EvalOutcome> outcomes = SyntheticOutcomes(
      10, 30, algo->replay_buffer().row_size(), -0.9f, 0.18f, 0.5f, [](int, int) { return 0.1f; });
  GDAQD_ASSERT_OK(algo->Tell(told, outcomes).status());  // inserting is not a long step
  EXPECT_THAT(algo->Learn(),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("TD3 training interrupted")));
  EXPECT_THAT(loop.Ask(*algo, 10),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("imagination interrupted")));
  // The failed Ask() left nothing to answer: a Tell() now is refused, not filed as isoline.
  EXPECT_THAT(algo->Tell(told, outcomes),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("asked for 0")));
}

// The shipped models (GDA_QD's defaults on AntTrap: a (256, 256) critic trained 300 steps per
// generation on batches of 256, a 4 x (512, 512) ensemble trained up to 2,000 steps) stop within
// a second of the flag; uninterrupted, this Learn() takes minutes.
TEST(ModelBasedQdTest, ShippedAntTrapCriticStopsWithinASecond) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, common::ParseExperimentConfig(R"pb(
                               algorithm: GDA_QD
                               env { task: "ant_trap" }
                               budget { max_evaluations: 1000 }
                             )pb"));
  CancelFlag interrupt{false};
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config, &interrupt));
  absl::Status learned;
  const absl::Duration latency = InterruptedAntLearn(*algo, interrupt, &learned);
  EXPECT_THAT(learned, StatusIs(absl::StatusCode::kCancelled, HasSubstr("interrupted")));
  RecordProperty("interrupt_latency_ms", static_cast<int>(absl::ToInt64Milliseconds(latency)));
  EXPECT_LT(latency, absl::Seconds(1));
}

TEST(ModelBasedQdTest, ShippedAntTrapEnsembleStopsWithinASecond) {
  GDAQD_ASSERT_OK_AND_ASSIGN(gdaqd::v1::ExperimentConfig config, common::ParseExperimentConfig(R"pb(
                               algorithm: DA_QD_EXT
                               env { task: "ant_trap" }
                               budget { max_evaluations: 1000 }
                             )pb"));
  CancelFlag interrupt{false};
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config, &interrupt));
  absl::Status learned;
  const absl::Duration latency = InterruptedAntLearn(*algo, interrupt, &learned);
  EXPECT_THAT(learned, StatusIs(absl::StatusCode::kCancelled,
                                HasSubstr("dynamics model training interrupted")));
  RecordProperty("interrupt_latency_ms", static_cast<int>(absl::ToInt64Milliseconds(latency)));
  EXPECT_LT(latency, absl::Seconds(1));
}

// Runs `config` through an Experiment on local workers to its budget; returns its history.
std::vector<gdaqd::v1::ProgressSnapshot> RunExperiment(const gdaqd::v1::ExperimentConfig& config) {
  LocalEvaluator evaluator(2);
  auto experiment = Experiment::Create(1, config, &evaluator, ExperimentOptions());
  EXPECT_TRUE(experiment.ok()) << experiment.status();
  if (!experiment.ok()) return {};
  (*experiment)->Start();
  EXPECT_TRUE((*experiment)->WaitFinished(absl::Seconds(120)));
  const gdaqd::v1::ExperimentStatus status = (*experiment)->Status();
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), config.budget().max_evaluations());
  std::vector<gdaqd::v1::ProgressSnapshot> history;
  auto reader = (*experiment)->Export();
  EXPECT_TRUE(reader.ok()) << reader.status();
  gdaqd::v1::ExportArchiveResponse message;
  while (reader.ok()) {
    absl::StatusOr<bool> more = (*reader)->Next(&message);
    if (!more.ok() || !*more) break;
    for (const auto& row : message.history().rows()) history.push_back(row);
  }
  return history;
}

gdaqd::v1::ExperimentConfig DefaultScheduleConfig(const std::string& extra) {
  gdaqd::v1::ExperimentConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kTiny, &config));
  config.mutable_model()->clear_retrain_every();  // the default: the paper's
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(extra, &config));
  common::ApplyDefaults(&config);
  EXPECT_TRUE(common::ValidateExperimentConfig(config).ok());
  return config;
}

// Algorithm 1, line 17: the ensemble and the critic learn after every real iteration, the last
// one included, and every iteration's progress row shows it.
TEST(ModelBasedQdTest, DefaultScheduleTrainsAfterEveryIteration) {
  const std::vector<gdaqd::v1::ProgressSnapshot> history = RunExperiment(DefaultScheduleConfig(""));
  ASSERT_EQ(history.size(), 6u);  // 10 initial + 5 x 10 = 60 evaluations
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].model_train_calls(), static_cast<int64_t>(i) + 1) << "iteration " << i;
  }
}

// PIPELINED learns from batch t-1 and asks batch t+1 while batch t is evaluated: the budget is
// spent exactly, the run is reproducible, and the ensemble learns in every iteration but the
// second (its data was learned before the first batch was asked ahead).
TEST(ModelBasedQdTest, PipelinedScheduleSpendsTheBudgetReproducibly) {
  const gdaqd::v1::ExperimentConfig config =
      DefaultScheduleConfig("scheduler { learning_schedule: PIPELINED }");
  const std::vector<gdaqd::v1::ProgressSnapshot> first = RunExperiment(config);
  const std::vector<gdaqd::v1::ProgressSnapshot> second = RunExperiment(config);
  ASSERT_EQ(first.size(), 6u);
  ASSERT_EQ(second.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(first[i].qd_score(), second[i].qd_score());
    EXPECT_EQ(first[i].num_filled(), second[i].num_filled());
    EXPECT_EQ(first[i].imagined_evaluations(), second[i].imagined_evaluations());
  }
  EXPECT_EQ(first.back().model_train_calls(), 5);
  EXPECT_GT(first.back().imagined_evaluations(), 0);
}

TEST(ModelBasedQdTest, AsksAheadAtMostOnceAndTellsInAskOrder) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, ModelBasedQd::Create(config));
  Loop loop(config);
  GDAQD_ASSERT_OK(loop.Round(*algo, 10));
  std::vector<float> first, second, third;
  GDAQD_ASSERT_OK(algo->Ask(10, &first));
  GDAQD_ASSERT_OK(algo->Ask(8, &second));
  EXPECT_THAT(algo->Ask(6, &third), StatusIs(absl::StatusCode::kFailedPrecondition,
                                             HasSubstr("2 batches asked and not yet told")));
  std::stringstream saved;
  EXPECT_THAT(algo->SaveCheckpoint(saved),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("two batches asked")));
  const int row_size = algo->replay_buffer().row_size();
  auto value = [](int, int) { return 0.1f; };
  // The oldest batch (10) is told first; 8 outcomes do not answer it.
  EXPECT_THAT(algo->Tell(second, SyntheticOutcomes(8, 30, row_size, 0.1f, 0.1f, 0.0f, value)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("asked for 10")));
  GDAQD_ASSERT_OK(
      algo->Tell(first, SyntheticOutcomes(10, 30, row_size, 0.1f, 0.1f, 0.0f, value)).status());
  GDAQD_ASSERT_OK(algo->SaveCheckpoint(saved));  // one outstanding: a pending batch
  GDAQD_ASSERT_OK(
      algo->Tell(second, SyntheticOutcomes(8, 30, row_size, 0.1f, 0.1f, 0.0f, value)).status());
  GDAQD_ASSERT_OK(algo->Learn());
}

// Status and export never wait for learning: with an ensemble whose every training takes
// seconds, every Status() and whole Export() during the run returns within a second.
TEST(ModelBasedQdTest, StatusAndExportAnswerWhileTheModelTrains) {
  const gdaqd::v1::ExperimentConfig config = DefaultScheduleConfig(R"pb(
    budget { max_evaluations: 20 }
    model {
      ensemble_hidden_sizes: [ 512, 512 ]
      max_train_steps: 400
      patience: 1000
    }
  )pb");
  LocalEvaluator evaluator(1);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment,
                             Experiment::Create(1, config, &evaluator, ExperimentOptions()));
  experiment->Start();
  absl::Duration slowest;
  int polls = 0;
  while (!experiment->finished()) {
    const absl::Time start = absl::Now();
    (void)experiment->Status();
    absl::StatusOr<std::unique_ptr<storage::ExportReader>> reader = experiment->Export();
    if (reader.ok()) {
      gdaqd::v1::ExportArchiveResponse message;
      while (true) {
        absl::StatusOr<bool> more = (*reader)->Next(&message);
        if (!more.ok() || !*more) break;
      }
    }
    slowest = std::max(slowest, absl::Now() - start);
    ++polls;
    absl::SleepFor(absl::Milliseconds(50));
  }
  const gdaqd::v1::ExperimentStatus status = experiment->Status();
  ASSERT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  // Two trainings of seconds each: a Tell() that trained under the archive lock held an export
  // for that long.
  ASSERT_EQ(status.progress().model_train_calls(), 2);
  ASSERT_GT(status.progress().training_seconds(), 2.0);
  EXPECT_GT(polls, 20);
  EXPECT_LT(slowest, absl::Seconds(1));
  RecordProperty("slowest_poll_ms", static_cast<int>(absl::ToInt64Milliseconds(slowest)));
}

TEST(ModelBasedQdTest, RejectsOtherAlgorithms) {
  EXPECT_THAT(ModelBasedQd::Create(TinyConfig("algorithm: PGA_ME")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("DA_QD_EXT or GDA_QD")));
}

}  // namespace
}  // namespace gdaqd::server
