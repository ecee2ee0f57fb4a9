#include "server/metrics/coordinator_collector.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/experiment_manager.h"
#include "server/algorithms/progress_metrics.h"
#include "server/metrics/metrics_recorder.h"
#include "server/scheduler/local_evaluator.h"
#include "server/scheduler/result_validation.h"
#include "server/scheduler/scheduler.h"
#include "server/storage/state_dir.h"
#include "tests/testing/cluster_metrics.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd::server::metrics {
namespace {

using ::gdaqd::testing::CoordinatorMetricSpecs;
using ::gdaqd::testing::ExpectBoundedLabels;
using ::gdaqd::testing::ExpectFamily;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::PromExposition;
using ::gdaqd::testing::StatusIs;
using ::testing::Ge;

constexpr absl::Duration kWait = absl::Seconds(60);

gdaqd::v1::ExperimentConfig Config(int64_t budget) {
  gdaqd::v1::ExperimentConfig config;
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(40);
  config.mutable_policy()->add_hidden_sizes(8);
  config.mutable_emitter()->set_batch_size(16);
  config.mutable_budget()->set_max_evaluations(budget);
  return config;
}

PromExposition Parse(const std::vector<prometheus::MetricFamily>& families) {
  const std::string text = prometheus::TextSerializer().Serialize(families);
  absl::StatusOr<PromExposition> parsed = ::gdaqd::testing::ParsePrometheusText(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  return parsed.ok() ? *std::move(parsed) : PromExposition();
}

bool HasExperimentLabel(const PromExposition& exposition) {
  for (const auto& sample : exposition.samples) {
    if (sample.labels.contains("experiment")) return true;
  }
  return false;
}

// A real scheduler with one registered worker, a real manager on a local evaluator with a state
// directory, and the recorder as the experiments' observer.
class CoordinatorCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GDAQD_ASSERT_OK(scheduler_.RegisterWorker("w", 1, &sink_));
    GDAQD_ASSERT_OK_AND_ASSIGN(
        state_dir_, storage::StateDir::Open(
                        ::gdaqd::testing::FreshTempDir("collector", /*created=*/false), {}));
    ExperimentManagerOptions options;
    options.state_dir = state_dir_.get();
    options.observer = &recorder_;
    manager_ = std::make_unique<ExperimentManager>(&evaluator_, options);
    GDAQD_ASSERT_OK(manager_->RestoreAll().status());
    collector_.SetManager(manager_.get());
  }
  void TearDown() override {
    collector_.SetManager(nullptr);
    manager_.reset();
  }

  PromExposition Scrape() { return Parse(collector_.Collect()); }

  Scheduler scheduler_;
  ::gdaqd::testing::RecordingSink sink_;
  LocalEvaluator evaluator_{1};
  MetricsRecorder recorder_;
  std::unique_ptr<storage::StateDir> state_dir_;
  std::unique_ptr<ExperimentManager> manager_;
  CoordinatorCollector collector_{&scheduler_, &recorder_};
};

TEST_F(CoordinatorCollectorTest, EmitsEveryTableMetricForARunningExperimentThenDropsIt) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager_->Submit(Config(1'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::shared_ptr<Experiment> experiment, manager_->Get(id));
  absl::Notification two_iterations;
  std::atomic<bool> notified{false};
  auto check = [&] {
    if (experiment->Status().progress().iteration() >= 2 && !notified.exchange(true)) {
      two_iterations.Notify();
    }
  };
  const int64_t listener = experiment->AddListener(check);
  check();
  ASSERT_TRUE(two_iterations.WaitForNotificationWithTimeout(kWait));
  experiment->RemoveListener(listener);

  const PromExposition running = Scrape();
  for (const auto& spec : CoordinatorMetricSpecs()) ExpectFamily(running, spec);
  ExpectBoundedLabels(running, {id});
  const std::map<std::string, std::string> of_it = {{"experiment", id}};
  EXPECT_THAT(running.Value("gdaqd_experiment_iterations_total", of_it), IsOkAndHolds(Ge(2.0)));
  EXPECT_THAT(running.Value("gdaqd_experiment_evaluations_total", of_it), IsOkAndHolds(Ge(32.0)));
  EXPECT_THAT(running.Value("gdaqd_experiment_state", {{"experiment", id}, {"state", "running"}}),
              IsOkAndHolds(1.0));
  EXPECT_THAT(running.Value("gdaqd_experiment_state", {{"experiment", id}, {"state", "pending"}}),
              IsOkAndHolds(0.0));
  EXPECT_THAT(running.Value("gdaqd_experiments", {{"state", "running"}}), IsOkAndHolds(1.0));
  GDAQD_ASSERT_OK_AND_ASSIGN(double coverage,
                             running.Value("gdaqd_experiment_coverage_ratio", of_it));
  EXPECT_GT(coverage, 0);
  EXPECT_LE(coverage, 1);
  GDAQD_ASSERT_OK_AND_ASSIGN(double qd_ratio,
                             running.Value("gdaqd_experiment_qd_score_ratio", of_it));
  EXPECT_GT(qd_ratio, 0);
  EXPECT_LE(qd_ratio, 1);
  // MAP-Elites has no learned model: NaN, not a made-up 0; the imagined count stays at 0.
  GDAQD_ASSERT_OK_AND_ASSIGN(double critic, running.Value("gdaqd_experiment_critic_loss", of_it));
  EXPECT_TRUE(std::isnan(critic));
  EXPECT_THAT(running.Value("gdaqd_experiment_imagined_evaluations_total", of_it),
              IsOkAndHolds(0.0));
  EXPECT_THAT(running.Value("gdaqd_experiment_phase_duration_seconds_count",
                            {{"experiment", id}, {"phase", "evaluation"}}),
              IsOkAndHolds(Ge(2.0)));
  // The submit-time checkpoint at least.
  EXPECT_THAT(running.Value("gdaqd_checkpoint_duration_seconds_count"), IsOkAndHolds(Ge(1.0)));
  EXPECT_THAT(running.Value("gdaqd_checkpoint_failures_total"), IsOkAndHolds(0.0));
  EXPECT_THAT(running.Value("gdaqd_workers_connected"), IsOkAndHolds(1.0));
  EXPECT_EQ(recorder_.tracked_experiments(), 1);

  experiment->Cancel();
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  experiment->Join();  // OnFinished has run
  const PromExposition cancelled = Scrape();
  EXPECT_FALSE(HasExperimentLabel(cancelled)) << "a finished experiment's series remain";
  ExpectBoundedLabels(cancelled, {});
  EXPECT_THAT(cancelled.Value("gdaqd_experiments", {{"state", "cancelled"}}), IsOkAndHolds(1.0));
  EXPECT_THAT(cancelled.Value("gdaqd_experiments", {{"state", "running"}}), IsOkAndHolds(0.0));
  EXPECT_EQ(recorder_.tracked_experiments(), 0);
  // Families stay TYPEd (with no samples) so dashboards see them before any experiment runs.
  for (const auto& spec : CoordinatorMetricSpecs()) {
    ExpectFamily(cancelled, spec, /*require_samples=*/false);
  }
}

TEST_F(CoordinatorCollectorTest, FinishedExperimentsLeaveNoSeriesAndNoHistograms) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager_->Submit(Config(48)));
    ids.push_back(id);
  }
  for (const std::string& id : ids) {
    GDAQD_ASSERT_OK_AND_ASSIGN(std::shared_ptr<Experiment> experiment, manager_->Get(id));
    ASSERT_TRUE(experiment->WaitFinished(kWait));
    experiment->Join();
  }
  const PromExposition done = Scrape();
  EXPECT_FALSE(HasExperimentLabel(done));
  ExpectBoundedLabels(done, {});
  EXPECT_THAT(done.Value("gdaqd_experiments", {{"state", "succeeded"}}), IsOkAndHolds(3.0));
  EXPECT_EQ(recorder_.tracked_experiments(), 0);
  // Creation + final checkpoint per experiment.
  EXPECT_THAT(done.Value("gdaqd_checkpoint_duration_seconds_count"), IsOkAndHolds(Ge(6.0)));
}

TEST_F(CoordinatorCollectorTest, CountsRejectedResultsByEveryResultCheckName) {
  EvalRequest request;
  request.experiment_id = "exp-x";
  request.env.set_task("point_maze");
  request.num_params = 1;
  request.descriptor_dim = 2;
  request.seeds = {1, 2};
  request.params = {0.f, 0.f};
  GDAQD_ASSERT_OK_AND_ASSIGN(auto batch, scheduler_.Submit(request));
  std::vector<gdaqd::v1::Assignment> sent = sink_.WaitAndTake(kWait);
  ASSERT_FALSE(sent.empty());
  const gdaqd::v1::Assignment& lease = sent[0];
  ASSERT_GE(lease.episodes_size(), 1);
  gdaqd::v1::EpisodeResult wrong_size;
  wrong_size.set_lease_id(lease.lease_id());
  wrong_size.set_index(0);
  wrong_size.add_behavior_descriptor(0.5f);  // the task has 2
  wrong_size.set_length(5);
  wrong_size.set_last_chunk(true);
  EXPECT_THAT(scheduler_.OnResult("w", wrong_size),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));

  const PromExposition scraped = Scrape();
  std::set<std::string> reasons;
  for (const auto& sample : scraped.Find("gdaqd_scheduler_rejected_results_total")) {
    reasons.insert(sample.labels.at("reason"));
    const double expected = sample.labels.at("reason") == "wrong_descriptor_size" ? 1 : 0;
    EXPECT_EQ(sample.value, expected) << sample.labels.at("reason");
  }
  std::set<std::string> names;
  for (int i = 1; i < kNumResultChecks; ++i) {
    names.insert(std::string(ResultCheckName(static_cast<ResultCheck>(i))));
  }
  EXPECT_EQ(reasons, names);
  EXPECT_THAT(scraped.Value("gdaqd_scheduler_completed_episodes_total"), IsOkAndHolds(1.0));
  EXPECT_THAT(scraped.Value("gdaqd_scheduler_leases_in_flight"), IsOkAndHolds(Ge(1.0)));
  scheduler_.Cancel(batch);
}

TEST(CoordinatorFamiliesTest, ConvertsPercentagesAndKeepsNoneAsNanAndEmptyAsMinusInf) {
  gdaqd::v1::ExperimentStatus status;
  status.set_id("exp-7");
  status.set_state(gdaqd::v1::PENDING);
  status.mutable_progress()->set_qd_score_pct(25);
  status.mutable_progress()->set_coverage_pct(50);
  status.mutable_progress()->set_max_fitness(-std::numeric_limits<double>::infinity());
  status.mutable_progress()->set_critic_loss(std::numeric_limits<double>::quiet_NaN());
  status.mutable_progress()->set_model_holdout_loss(0.75);
  gdaqd::v1::ExperimentStatus finished;
  finished.set_id("exp-3");
  finished.set_state(gdaqd::v1::FAILED);
  MetricsRecorder recorder;
  recorder.OnCheckpoint(absl::Milliseconds(20), /*ok=*/false);
  recorder.OnIteration("exp-7", 1, {.evaluation = 0.5});
  recorder.OnIteration("exp-3", 1, {.evaluation = 0.5});  // finished: not emitted
  const PromExposition parsed = Parse(CoordinatorFamilies({status, finished}, {}, recorder));
  const std::map<std::string, std::string> of_7 = {{"experiment", "exp-7"}};
  EXPECT_THAT(parsed.Value("gdaqd_experiment_qd_score_ratio", of_7), IsOkAndHolds(0.25));
  EXPECT_THAT(parsed.Value("gdaqd_experiment_coverage_ratio", of_7), IsOkAndHolds(0.5));
  EXPECT_THAT(parsed.Value("gdaqd_experiment_model_holdout_loss", of_7), IsOkAndHolds(0.75));
  GDAQD_ASSERT_OK_AND_ASSIGN(double max_fitness,
                             parsed.Value("gdaqd_experiment_max_fitness", of_7));
  EXPECT_EQ(max_fitness, -std::numeric_limits<double>::infinity());
  GDAQD_ASSERT_OK_AND_ASSIGN(double critic, parsed.Value("gdaqd_experiment_critic_loss", of_7));
  EXPECT_TRUE(std::isnan(critic));
  EXPECT_THAT(parsed.Value("gdaqd_experiments", {{"state", "failed"}}), IsOkAndHolds(1.0));
  EXPECT_THAT(parsed.Value("gdaqd_experiments", {{"state", "pending"}}), IsOkAndHolds(1.0));
  EXPECT_THAT(parsed.Value("gdaqd_checkpoint_failures_total"), IsOkAndHolds(1.0));
  EXPECT_THAT(parsed.Value("gdaqd_experiment_phase_duration_seconds_sum",
                           {{"experiment", "exp-7"}, {"phase", "evaluation"}}),
              IsOkAndHolds(0.5));
  ExpectBoundedLabels(parsed, {"exp-7"});
  EXPECT_THAT(parsed.Value("gdaqd_build_info", {{"version", GDAQD_VERSION}}), IsOkAndHolds(1.0));
}

// A toy algorithm defined only here: MAP-Elites plus two metrics of its own. Nothing outside this
// file knows their names, yet they reach the scrape.
class ToyAlgorithm final : public QdAlgorithm {
 public:
  explicit ToyAlgorithm(std::unique_ptr<QdAlgorithm> base) : base_(std::move(base)) {}
  absl::Status Ask(int64_t count, std::vector<float>* params) override {
    asked_ += count;
    return base_->Ask(count, params);
  }
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override {
    return base_->Tell(params, outcomes);
  }
  bool needs_transitions() const override { return false; }
  absl::Status SaveCheckpoint(std::ostream& out) const override {
    return base_->SaveCheckpoint(out);
  }
  absl::Status RestoreCheckpoint(std::istream& in) override { return base_->RestoreCheckpoint(in); }
  std::vector<MetricSpec> metric_specs() const override {
    return {{"toy_asked_policies", "Policies asked so far.", MetricKind::kCounter},
            {"toy_temperature", "Last temperature, kelvin; NaN before one.", MetricKind::kGauge}};
  }
  std::vector<Metric> metrics() const override {
    return {{"toy_asked_policies", static_cast<double>(asked_)}, {"toy_temperature", 2.5}};
  }
  const ArchiveInterface& archive() const override { return base_->archive(); }
  const common::TaskSpec& spec() const override { return base_->spec(); }
  const common::MlpLayout& layout() const override { return base_->layout(); }

 private:
  std::unique_ptr<QdAlgorithm> base_;
  int64_t asked_ = 0;
};

// A running experiment's status as the coordinator makes it before any metric is reported.
gdaqd::v1::ExperimentStatus Running(const std::string& id) {
  gdaqd::v1::ExperimentStatus status;
  status.set_id(id);
  status.set_state(gdaqd::v1::RUNNING);
  SetSnapshotMetrics({}, status.mutable_progress());
  return status;
}

TEST(CoordinatorFamiliesTest, AnAlgorithmsOwnMetricsBecomeFamiliesNamedAfterThem) {
  gdaqd::v1::ExperimentConfig config = Config(100);
  common::ApplyDefaults(&config);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<QdAlgorithm> base, MakeAlgorithm(config));
  ToyAlgorithm toy(std::move(base));
  std::vector<float> params;
  GDAQD_ASSERT_OK(toy.Ask(16, &params));
  gdaqd::v1::ExperimentStatus toy_status = Running("exp-1");
  SetSnapshotMetrics(toy.metrics(), toy_status.mutable_progress());
  const gdaqd::v1::ExperimentStatus other = Running("exp-2");  // declares none
  gdaqd::v1::ExperimentStatus pending = Running("exp-3");      // declared, nothing reported yet
  pending.set_state(gdaqd::v1::PENDING);
  MetricsRecorder recorder;
  const std::vector<std::vector<MetricSpec>> specs = {toy.metric_specs(), {}, toy.metric_specs()};
  const PromExposition parsed =
      Parse(CoordinatorFamilies({toy_status, other, pending}, {}, recorder, specs));

  ExpectFamily(parsed, {"gdaqd_experiment_toy_asked_policies_total", "counter", {"experiment"}});
  ExpectFamily(parsed, {"gdaqd_experiment_toy_temperature", "gauge", {"experiment"}});
  EXPECT_THAT(parsed.Value("gdaqd_experiment_toy_asked_policies_total", {{"experiment", "exp-1"}}),
              IsOkAndHolds(16.0));
  EXPECT_THAT(parsed.Value("gdaqd_experiment_toy_temperature", {{"experiment", "exp-1"}}),
              IsOkAndHolds(2.5));
  EXPECT_THAT(parsed.Value("gdaqd_experiment_toy_asked_policies_total", {{"experiment", "exp-3"}}),
              IsOkAndHolds(0.0));
  GDAQD_ASSERT_OK_AND_ASSIGN(double unreported, parsed.Value("gdaqd_experiment_toy_temperature",
                                                             {{"experiment", "exp-3"}}));
  EXPECT_TRUE(std::isnan(unreported));
  EXPECT_FALSE(parsed.Value("gdaqd_experiment_toy_temperature", {{"experiment", "exp-2"}}).ok())
      << "an experiment that does not declare a metric has no series of it";
  // The series that predate named metrics stay, for every experiment (0 / NaN without a model).
  for (const char* id : {"exp-1", "exp-2", "exp-3"}) {
    EXPECT_THAT(parsed.Value("gdaqd_experiment_imagined_evaluations_total", {{"experiment", id}}),
                IsOkAndHolds(0.0));
    GDAQD_ASSERT_OK_AND_ASSIGN(double critic,
                               parsed.Value("gdaqd_experiment_critic_loss", {{"experiment", id}}));
    EXPECT_TRUE(std::isnan(critic));
  }
  ExpectBoundedLabels(parsed, {"exp-1", "exp-2", "exp-3"});
}

}  // namespace
}  // namespace gdaqd::server::metrics
