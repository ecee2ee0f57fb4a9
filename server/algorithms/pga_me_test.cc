#include "server/algorithms/pga_me.h"

#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/algorithms/experiment.h"
#include "server/archive/qd_metrics.h"
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

constexpr char kTinyPga[] = R"pb(
  algorithm: PGA_ME
  env { task: "point_maze" episode_length: 30 }
  policy { hidden_sizes: [ 8 ] }
  archive { cells_per_dim: [ 10, 10 ] }
  emitter { batch_size: 10 }
  budget { max_evaluations: 60 }
  seed: 3
  pga {
    critic_hidden_sizes: [ 16, 16 ]
    critic_steps: 5
    pg_steps: 3
    critic_batch_size: 20
    device: "cpu"
  }
)pb";

gdaqd::v1::ExperimentConfig TinyConfig() {
  auto config = common::ParseExperimentConfig(kTinyPga);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// kTinyPga with `text` merged in, defaults applied, then validated.
absl::Status ValidateTinyWith(const std::string& text) {
  gdaqd::v1::ExperimentConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(kTinyPga, &config) ||
      !google::protobuf::TextFormat::MergeFromString(text, &config)) {
    return absl::InternalError("test config does not parse");
  }
  common::ApplyDefaults(&config);
  return common::ValidateExperimentConfig(config);
}

int64_t CountOf(const std::vector<Provenance>& provenance, Provenance p) {
  int64_t n = 0;
  for (Provenance q : provenance) n += q == p ? 1 : 0;
  return n;
}

// `n` outcomes in the PointMaze box, each with `length` transition rows of `row_size` floats all
// equal to `value` (what a worker could send; the scheduler's bounds are not trusted here).
std::vector<EvalOutcome> SyntheticOutcomes(int64_t n, int length, int row_size, float value) {
  std::vector<EvalOutcome> outcomes(n);
  for (int64_t i = 0; i < n; ++i) {
    outcomes[i].fitness = -static_cast<float>(i);
    outcomes[i].descriptor = {-0.9f + 0.18f * static_cast<float>(i), 0.5f};
    outcomes[i].length = length;
    outcomes[i].transitions.assign(static_cast<size_t>(length) * row_size, value);
  }
  return outcomes;
}

// Answers every request with SyntheticOutcomes of `value`.
class SyntheticEvaluator final : public Evaluator {
 public:
  SyntheticEvaluator(int row_size, float value) : row_size_(row_size), value_(value) {}
  absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                    const CancelFlag* /*cancel*/) override {
    return SyntheticOutcomes(static_cast<int64_t>(request.seeds.size()), 30, row_size_, value_);
  }

 private:
  int row_size_;
  float value_;
};

TEST(PgaBatchCompositionTest, FollowsQdaxAndDegradesForSmallBatches) {
  const PgaBatchComposition qdax = PgaBatchComposition::For(100, 0.5);
  EXPECT_EQ(qdax.isoline, 50);
  EXPECT_EQ(qdax.pg, 49);
  EXPECT_EQ(qdax.greedy, 1);
  const PgaBatchComposition one = PgaBatchComposition::For(1, 0.5);
  EXPECT_EQ(one.isoline, 1);
  EXPECT_EQ(one.pg + one.greedy, 0);
  const PgaBatchComposition two = PgaBatchComposition::For(2, 0.5);
  EXPECT_EQ(two.isoline, 2);
  const PgaBatchComposition three = PgaBatchComposition::For(3, 0.5);
  EXPECT_EQ(three.isoline, 1);
  EXPECT_EQ(three.pg, 1);
  EXPECT_EQ(three.greedy, 1);
  const PgaBatchComposition all_iso = PgaBatchComposition::For(10, 1.0);
  EXPECT_EQ(all_iso.isoline, 10);
}

TEST(PgaMeTest, DefaultsAreQdaxOnlyForPgaMe) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig pga,
      common::ParseExperimentConfig(R"pb(algorithm: PGA_ME
                                         env { task: "point_maze" }
                                         budget { max_evaluations: 10 })pb"));
  EXPECT_FLOAT_EQ(pga.pga().isoline_fraction(), 0.5f);
  EXPECT_EQ(pga.pga().critic_steps(), 300);
  EXPECT_EQ(pga.pga().pg_steps(), 100);
  EXPECT_EQ(pga.pga().critic_batch_size(), 256);
  EXPECT_THAT(pga.pga().critic_hidden_sizes(), ::testing::ElementsAre(256, 256));
  EXPECT_FLOAT_EQ(pga.pga().policy_lr(), 1e-3f);
  EXPECT_EQ(pga.pga().policy_delay(), 2);
  EXPECT_EQ(pga.pga().replay_capacity(), 1'000'000);
  EXPECT_EQ(pga.pga().device(), "auto");
  EXPECT_EQ(pga.pga().torch_threads(), 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig me,
      common::ParseExperimentConfig(R"pb(env { task: "point_maze" }
                                         budget { max_evaluations: 10 })pb"));
  EXPECT_FALSE(me.has_pga());
}

TEST(PgaMeTest, IsolineFractionZeroIsKeptAndMakesEveryChildFromTheCritic) {
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig config,
      common::ParseExperimentConfig(R"pb(algorithm: PGA_ME
                                         env { task: "point_maze" }
                                         pga { isoline_fraction: 0 }
                                         budget { max_evaluations: 10 })pb"));
  ASSERT_TRUE(config.pga().has_isoline_fraction());
  EXPECT_EQ(config.pga().isoline_fraction(), 0.0f);
  const PgaBatchComposition batch = PgaBatchComposition::For(10, config.pga().isoline_fraction());
  EXPECT_EQ(batch.isoline, 0);
  EXPECT_EQ(batch.pg, 9);
  EXPECT_EQ(batch.greedy, 1);
}

struct BadPga {
  std::string text;
  std::string field;
};

void PrintTo(const BadPga& bad, std::ostream* os) { *os << bad.text; }

class PgaValidationTest : public ::testing::TestWithParam<BadPga> {};

TEST_P(PgaValidationTest, ErrorNamesThePgaField) {
  EXPECT_THAT(ValidateTinyWith(GetParam().text),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(GetParam().field + ":")));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, PgaValidationTest,
    ::testing::Values(BadPga{"pga { isoline_fraction: 1.5 }", "pga.isoline_fraction"},
                      BadPga{"pga { critic_steps: -1 }", "pga.critic_steps"},
                      BadPga{"pga { pg_steps: -2 }", "pga.pg_steps"},
                      BadPga{"pga { critic_batch_size: -4 }", "pga.critic_batch_size"},
                      BadPga{"pga { critic_hidden_sizes: 0 }", "pga.critic_hidden_sizes[2]"},
                      BadPga{"pga { critic_lr: -1 }", "pga.critic_lr"},
                      BadPga{"pga { discount: 2 }", "pga.discount"},
                      BadPga{"pga { tau: nan }", "pga.tau"},
                      BadPga{"pga { policy_delay: -1 }", "pga.policy_delay"},
                      BadPga{"pga { replay_capacity: 5 }", "pga.replay_capacity"},
                      BadPga{"pga { device: \"tpu\" }", "pga.device"},
                      BadPga{"pga { torch_threads: 1000 }", "pga.torch_threads"}),
    [](const ::testing::TestParamInfo<BadPga>& info) {
      std::string name = info.param.field;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(PgaMeTest, ThePapersAlgorithmsAreAcceptedAndUnknownOnesRefused) {
  for (const char* algorithm : {"MAP_ELITES", "GDA_QD"}) {
    GDAQD_EXPECT_OK(ValidateTinyWith(std::string("algorithm: ") + algorithm)) << algorithm;
  }
  // DA_QD_EXT has no critic: the tiny config's critic settings would be silently ignored.
  EXPECT_THAT(ValidateTinyWith("algorithm: DA_QD_EXT"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("pga.critic_steps: DA_QD_EXT has no critic")));
  EXPECT_THAT(ValidateTinyWith("algorithm: 99"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("algorithm: 99 is not an algorithm (use MAP_ELITES")));
}

TEST(PgaMeTest, ShortRunFillsArchiveGrowsBufferAndComposesBatches) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, PgaMe::Create(config));
  EXPECT_TRUE(algo->needs_transitions());
  LocalEvaluator evaluator(2);
  EvalRequest request;
  request.env = config.env();
  request.policy = config.policy();
  request.record_transitions = true;
  request.num_params = algo->layout().num_params();
  request.descriptor_dim = 2;
  const int64_t n = request.num_params;
  int64_t previous_rows = 0;
  for (int generation = 0; generation < 5; ++generation) {
    GDAQD_ASSERT_OK(algo->Ask(10, &request.params));
    ASSERT_EQ(static_cast<int64_t>(request.params.size()), 10 * n);
    const std::vector<Provenance>& provenance = algo->last_provenance();
    ASSERT_EQ(provenance.size(), 10u);
    if (generation == 0) {
      EXPECT_EQ(CountOf(provenance, Provenance::kInitial), 10);  // random initial population
    } else {
      // 30-step episodes x 10 = 300 rows >= batch 20 after the first Tell: PG is on from gen 1.
      EXPECT_EQ(CountOf(provenance, Provenance::kIsoline), 5);
      EXPECT_EQ(CountOf(provenance, Provenance::kGradient), 4);
      EXPECT_EQ(provenance.back(), Provenance::kGreedy);
    }
    request.seeds.assign(10, 0);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<EvalOutcome> outcomes,
                               evaluator.Evaluate(request, nullptr));
    GDAQD_ASSERT_OK(algo->Tell(request.params, outcomes).status());
    EXPECT_EQ(algo->train_calls(), generation);  // Tell() trains nothing
    GDAQD_ASSERT_OK(algo->Learn());
    GDAQD_ASSERT_OK(algo->Learn());  // nothing told since: no second training
    EXPECT_GT(algo->replay_buffer().size(), previous_rows);
    previous_rows = algo->replay_buffer().size();
    EXPECT_EQ(algo->train_calls(), generation + 1);
  }
  const int64_t greedy_rows =
      algo->replay_buffer().size(models::ProvenanceBit(Provenance::kGreedy));
  EXPECT_GT(greedy_rows, 0);
  EXPECT_LE(greedy_rows, 4 * 30);  // 4 greedy episodes of at most 30 steps
  EXPECT_GT(algo->replay_buffer().size(models::ProvenanceBit(Provenance::kGradient)), 0);
  EXPECT_GT(algo->archive().num_filled(), 3);
}

TEST(PgaMeTest, ExtremeTransitionsFailLearnNamingTheLossAndTheGeneration) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, PgaMe::Create(config));
  const int row_size = algo->replay_buffer().row_size();
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  GDAQD_ASSERT_OK(algo->Tell(params, SyntheticOutcomes(10, 30, row_size, 0.1f)).status());
  GDAQD_ASSERT_OK(algo->Learn());
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  // Values of 3e38 are finite, so the buffer stores them; the critic's squared TD error is not.
  GDAQD_ASSERT_OK(algo->Tell(params, SyntheticOutcomes(10, 30, row_size, 3e38f)).status());
  EXPECT_THAT(algo->Learn(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(StartsWith("critic loss became non-finite ("),
                             HasSubstr("at generation 2; the replay buffer may hold extreme"))));
}

TEST(PgaMeTest, ExperimentFedExtremeTransitionsEndsFailed) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  SyntheticEvaluator evaluator(/*row_size=*/9, 3e38f);  // PointMaze: 2 * 2 + 2 + 3
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment,
                             Experiment::Create(1, config, &evaluator, ExperimentOptions()));
  experiment->Start();
  ASSERT_TRUE(experiment->WaitFinished(absl::Seconds(60)));
  const gdaqd::v1::ExperimentStatus status = experiment->Status();
  EXPECT_EQ(status.state(), gdaqd::v1::FAILED);
  EXPECT_THAT(status.error(), HasSubstr("critic loss became non-finite"));
  EXPECT_THAT(status.error(), HasSubstr("at generation 1"));
}

TEST(PgaMeTest, NonFiniteTransitionsAreNotStoredButCounted) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, PgaMe::Create(TinyConfig()));
  const int row_size = algo->replay_buffer().row_size();
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  std::vector<EvalOutcome> outcomes = SyntheticOutcomes(10, 30, row_size, 0.1f);
  outcomes[3].transitions[5] = std::numeric_limits<float>::quiet_NaN();
  outcomes[7].transitions[0] = std::numeric_limits<float>::infinity();
  GDAQD_ASSERT_OK_AND_ASSIGN(TellSummary summary, algo->Tell(params, outcomes));
  EXPECT_EQ(summary.added + summary.improved + summary.not_added, 10);  // still inserted
  EXPECT_EQ(algo->replay_buffer().size(), 8 * 30);
  EXPECT_THAT(FindMetric(algo->metrics(), "rejected_transition_episodes"), Optional(2.0));
}

TEST(PgaMeTest, InterruptedAskAndLearnReturnCancelled) {
  const gdaqd::v1::ExperimentConfig config = TinyConfig();
  CancelFlag interrupt{false};
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, PgaMe::Create(config, &interrupt));
  const int row_size = algo->replay_buffer().row_size();
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  const std::vector<EvalOutcome> outcomes = SyntheticOutcomes(10, 30, row_size, 0.1f);
  GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());
  GDAQD_ASSERT_OK(algo->Learn());
  ASSERT_EQ(algo->train_calls(), 1);
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  GDAQD_ASSERT_OK(algo->Tell(params, outcomes).status());
  interrupt = true;
  EXPECT_THAT(algo->Learn(),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("TD3 training interrupted")));
  EXPECT_EQ(algo->train_calls(), 1);
  std::vector<float> next;
  EXPECT_THAT(algo->Ask(10, &next), StatusIs(absl::StatusCode::kCancelled,
                                             HasSubstr("policy-gradient variation interrupted")));
}

TEST(PgaMeTest, TellThatDoesNotAnswerTheLastAskIsRefusedAndChangesNothing) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto algo, PgaMe::Create(TinyConfig()));
  const int row_size = algo->replay_buffer().row_size();
  std::vector<float> params;
  // No Ask() yet: there is no provenance to file the transitions under.
  const std::vector<EvalOutcome> ten = SyntheticOutcomes(10, 30, row_size, 0.1f);
  GDAQD_ASSERT_OK(algo->Ask(10, &params));
  std::vector<float> nine_params(params.begin(), params.begin() + 9 * (params.size() / 10));
  const std::vector<EvalOutcome> nine(ten.begin(), ten.begin() + 9);
  EXPECT_THAT(
      algo->Tell(nine_params, nine),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("Tell() got 9 outcomes but the oldest Ask() not yet told asked for 10")));
  EXPECT_EQ(algo->archive().num_filled(), 0);
  EXPECT_EQ(algo->replay_buffer().size(), 0);
  // The matching Tell() still works, and a second one (no Ask() in between) is refused.
  GDAQD_ASSERT_OK(algo->Tell(params, ten).status());
  EXPECT_EQ(algo->replay_buffer().size(), 10 * 30);
  EXPECT_THAT(algo->Tell(params, ten),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("asked for 0")));
  EXPECT_EQ(algo->replay_buffer().size(), 10 * 30);
}

TEST(PgaMeTest, ExperimentRunsPgaMeWithTransitions) {
  LocalEvaluator evaluator(2);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment,
                             Experiment::Create(1, TinyConfig(), &evaluator, ExperimentOptions()));
  experiment->Start();
  ASSERT_TRUE(experiment->WaitFinished(absl::Seconds(60)));
  const gdaqd::v1::ExperimentStatus status = experiment->Status();
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), 60);
  EXPECT_GT(status.progress().num_filled(), 3);
}

}  // namespace
}  // namespace gdaqd::server
