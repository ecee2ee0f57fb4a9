#include "server/algorithms/experiment_manager.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/progress_metrics.h"
#include "server/scheduler/local_evaluator.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;

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

std::string FreshDir(const std::string& name) {
  return ::gdaqd::testing::FreshTempDir("manager_" + name, /*created=*/false);
}

ExperimentManagerOptions StoredOptions(storage::StateDir* state, absl::Duration interval) {
  ExperimentManagerOptions options;
  options.state_dir = state;
  options.checkpoint_interval = interval;
  return options;
}

// The whole ExportArchive stream of an experiment.
struct Drained {
  gdaqd::v1::ArchiveHeader header;
  std::vector<gdaqd::v1::Elite> elites;
};

Drained Drain(const Experiment& experiment) {
  Drained out;
  auto reader = experiment.Export();
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  gdaqd::v1::ExportArchiveResponse message;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&message);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    if (message.has_header()) out.header = message.header();
    for (const auto& row : message.history().rows()) *out.header.add_history() = row;
    if (message.has_elite()) out.elites.push_back(message.elite());
  }
  return out;
}

// Same cells, fitnesses, descriptors and parameters, bit for bit.
void ExpectSameArchive(const Drained& a, const Drained& b) {
  ASSERT_EQ(a.elites.size(), b.elites.size());
  for (size_t i = 0; i < a.elites.size(); ++i) {
    EXPECT_EQ(a.elites[i].SerializeAsString(), b.elites[i].SerializeAsString()) << "elite " << i;
  }
}

TEST(ExperimentManagerTest, RunsToExactlyTheBudget) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(75)));  // not a multiple of 16
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  gdaqd::v1::ExperimentStatus status = experiment->Status();
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), 75);
  Drained exported = Drain(*experiment);
  ASSERT_FALSE(exported.header.history().empty());
  EXPECT_EQ(exported.header.history().rbegin()->evaluations(), 75);
  EXPECT_EQ(static_cast<int64_t>(exported.elites.size()), status.progress().num_filled());
}

TEST(ExperimentManagerTest, InvalidConfigIsRejectedWithTheField) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  gdaqd::v1::ExperimentConfig config = Config(10);
  config.mutable_emitter()->set_batch_size(-1);
  EXPECT_THAT(manager.Submit(config), StatusIs(absl::StatusCode::kInvalidArgument,
                                               ::testing::StartsWith("emitter.batch_size")));
  EXPECT_TRUE(manager.List().empty());
}

TEST(ExperimentManagerTest, UnknownOrMalformedIdIsNotFound) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  GDAQD_ASSERT_OK(manager.Submit(Config(16)).status());
  GDAQD_EXPECT_OK(manager.Get("exp-1").status());
  for (const char* id : {"exp-42", "garbage", "exp-1 ", " exp-1", "exp-01", "exp-+1", "exp-",
                         "exp-99999999999999999999"}) {
    EXPECT_THAT(manager.Get(id), StatusIs(absl::StatusCode::kNotFound, ::testing::_)) << id;
  }
}

TEST(ExperimentManagerTest, CancelStopsARun) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(100'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  experiment->Cancel();
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  EXPECT_EQ(experiment->Status().state(), gdaqd::v1::CANCELLED);
}

TEST(ExperimentManagerTest, ListenersHearEveryIteration) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  std::atomic<int> calls{0};
  // A budget that cannot end on its own, so the listener is attached while iterations still run
  // (a small budget could finish before AddListener under load, and nothing would be heard).
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(100'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  experiment->AddListener([&] { ++calls; });
  const int64_t evaluations_before = experiment->Status().progress().evaluations();
  const absl::Time deadline = absl::Now() + kWait;
  while (calls.load() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  const int64_t evaluations_after = experiment->Status().progress().evaluations();
  experiment->Cancel();
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  EXPECT_GE(calls.load(), 3);
  EXPECT_GT(evaluations_after, evaluations_before);  // what was heard were iterations
}

TEST(ExperimentManagerTest, PagesCoverEveryExperimentOnce) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  for (int i = 0; i < 5; ++i) GDAQD_ASSERT_OK(manager.Submit(Config(16)).status());
  std::vector<std::string> seen;
  std::string token;
  do {
    GDAQD_ASSERT_OK_AND_ASSIGN(ExperimentPage page, manager.ListPage(2, token));
    EXPECT_LE(page.experiments.size(), 2u);
    for (const auto& experiment : page.experiments) seen.push_back(experiment->id());
    token = page.next_page_token;
  } while (!token.empty());
  EXPECT_THAT(seen, ::testing::ElementsAre("exp-1", "exp-2", "exp-3", "exp-4", "exp-5"));
  EXPECT_THAT(manager.ListPage(1001, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::StartsWith("page_size")));
  EXPECT_THAT(manager.ListPage(0, "bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::StartsWith("page_token")));
}

TEST(ExperimentManagerTest, DeleteOnlyFinishedAndNeverReuseTheId) {
  const std::string dir = FreshDir("delete");
  LocalEvaluator evaluator(1);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, storage::StateDir::Open(dir));
  {
    ExperimentManager manager(&evaluator, StoredOptions(state.get(), absl::Seconds(60)));
    GDAQD_ASSERT_OK(manager.RestoreAll().status());
    GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(100'000'000)));
    EXPECT_THAT(manager.Delete(id),
                StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("cancel it")));
    GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
    experiment->Cancel();
    ASSERT_TRUE(experiment->WaitFinished(kWait));
    GDAQD_ASSERT_OK(manager.Delete(id));
    EXPECT_THAT(manager.Get(id), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
    EXPECT_FALSE(std::filesystem::exists(state->ExperimentDir(1)));
  }
  ExperimentManager manager(&evaluator, StoredOptions(state.get(), absl::Seconds(60)));
  GDAQD_ASSERT_OK(manager.RestoreAll().status());
  EXPECT_TRUE(manager.List().empty());
  EXPECT_THAT(manager.Submit(Config(16)), gdaqd::testing::IsOkAndHolds(std::string("exp-2")));
}

// Evaluates locally, but holds its `gate`-th Evaluate() call until the caller stops waiting
// (the experiment was interrupted), as a worker pool that has not answered yet would.
class GatedEvaluator final : public Evaluator {
 public:
  explicit GatedEvaluator(int gate) : gate_(gate) {}
  absl::StatusOr<std::vector<EvalOutcome>> Evaluate(const EvalRequest& request,
                                                    const CancelFlag* cancel) override {
    if (++calls_ == gate_) {
      entered_.Notify();
      const absl::Time deadline = absl::Now() + kWait;
      while (!cancel->load() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
      return absl::CancelledError("evaluation cancelled");
    }
    return local_.Evaluate(request, cancel);
  }
  absl::Notification& entered() { return entered_; }

 private:
  const int gate_;
  std::atomic<int> calls_{0};
  absl::Notification entered_;
  LocalEvaluator local_{1};
};

// Interrupts a run (shutdown) while its `gate`-th batch is out, restores it in a new manager from
// the same state directory, and returns the finished export.
Drained InterruptAndResume(const std::string& dir, absl::Duration checkpoint_interval, int gate,
                           const gdaqd::v1::ExperimentConfig& config) {
  const int64_t budget = config.budget().max_evaluations();
  {
    GatedEvaluator evaluator(gate);
    auto state = storage::StateDir::Open(dir).value();
    ExperimentManager manager(&evaluator, StoredOptions(state.get(), checkpoint_interval));
    EXPECT_TRUE(manager.RestoreAll().ok());
    auto id = manager.Submit(config);
    EXPECT_TRUE(id.ok()) << id.status();
    EXPECT_TRUE(evaluator.entered().WaitForNotificationWithTimeout(kWait));
    manager.Shutdown();
    EXPECT_FALSE(manager.Get(*id).value()->finished());
  }
  LocalEvaluator evaluator(1);
  auto state = storage::StateDir::Open(dir).value();
  ExperimentManager manager(&evaluator, StoredOptions(state.get(), checkpoint_interval));
  auto restored = manager.RestoreAll();
  EXPECT_TRUE(restored.ok() && *restored == 1) << restored.status();
  auto experiment = manager.Get("exp-1").value();
  EXPECT_TRUE(experiment->WaitFinished(kWait));
  gdaqd::v1::ExperimentStatus status = experiment->Status();
  EXPECT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  EXPECT_EQ(status.progress().evaluations(), budget);
  EXPECT_EQ(status.restarts(), 1);
  return Drain(*experiment);
}

TEST(ExperimentManagerTest, ResumedRunEndsWithTheUninterruptedArchive) {
  constexpr int64_t kBudget = 16 * 40;
  LocalEvaluator evaluator(1);
  ExperimentManager reference_manager(&evaluator);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, reference_manager.Submit(Config(kBudget)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto reference, reference_manager.Get(id));
  ASSERT_TRUE(reference->WaitFinished(kWait));
  const Drained expected = Drain(*reference);
  ASSERT_GT(expected.elites.size(), 5u);

  // Checkpoints every iteration; and none but the shutdown one (with its pending batch).
  for (absl::Duration interval : {absl::ZeroDuration(), absl::Hours(1)}) {
    SCOPED_TRACE(absl::StrCat("checkpoint interval ", absl::FormatDuration(interval)));
    const Drained resumed =
        InterruptAndResume(FreshDir("resume"), interval, /*gate=*/11, Config(kBudget));
    ExpectSameArchive(expected, resumed);
    EXPECT_EQ(resumed.header.history_size(), expected.header.history_size());
  }
}

// GDA-QD on a tiny PointMaze (ensemble and critic trained every iteration) under `schedule`.
gdaqd::v1::ExperimentConfig ModelBasedConfig(
    gdaqd::v1::SchedulerConfig::LearningSchedule schedule) {
  gdaqd::v1::ExperimentConfig config;
  config.set_algorithm(gdaqd::v1::GDA_QD);
  config.set_seed(3);
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(30);
  config.mutable_policy()->add_hidden_sizes(8);
  config.mutable_emitter()->set_batch_size(10);
  config.mutable_budget()->set_max_evaluations(70);
  config.mutable_scheduler()->set_learning_schedule(schedule);
  auto* pga = config.mutable_pga();
  for (int size : {16, 16}) pga->add_critic_hidden_sizes(size);
  pga->set_critic_steps(5);
  pga->set_pg_steps(3);
  pga->set_critic_batch_size(20);
  auto* model = config.mutable_model();
  for (int size : {32, 32}) model->add_ensemble_hidden_sizes(size);
  model->set_max_train_steps(50);
  model->set_train_batch_size(32);
  model->set_imagined_batch_size(16);
  model->set_imagined_generations(10);
  common::ApplyDefaults(&config);
  EXPECT_TRUE(common::ValidateExperimentConfig(config).ok());
  return config;
}

// Both learning schedules resume to the uninterrupted archive. SYNCHRONOUS checkpoints the asked
// batch on shutdown; PIPELINED checkpoints the batch it asked ahead at every boundary, and a
// shutdown while a batch is out resumes from the last boundary (or from the start).
TEST(ExperimentManagerTest, ResumedModelBasedRunEndsWithTheUninterruptedArchive) {
  for (auto schedule :
       {gdaqd::v1::SchedulerConfig::SYNCHRONOUS, gdaqd::v1::SchedulerConfig::PIPELINED}) {
    SCOPED_TRACE(gdaqd::v1::SchedulerConfig::LearningSchedule_Name(schedule));
    const gdaqd::v1::ExperimentConfig config = ModelBasedConfig(schedule);
    LocalEvaluator evaluator(1);
    ExperimentManager reference_manager(&evaluator);
    GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, reference_manager.Submit(config));
    GDAQD_ASSERT_OK_AND_ASSIGN(auto reference, reference_manager.Get(id));
    ASSERT_TRUE(reference->WaitFinished(kWait));
    ASSERT_EQ(reference->Status().state(), gdaqd::v1::SUCCEEDED) << reference->Status().error();
    const Drained expected = Drain(*reference);
    ASSERT_GT(expected.elites.size(), 3u);
    for (absl::Duration interval : {absl::ZeroDuration(), absl::Hours(1)}) {
      SCOPED_TRACE(absl::StrCat("checkpoint interval ", absl::FormatDuration(interval)));
      const Drained resumed =
          InterruptAndResume(FreshDir("resume_model"), interval, /*gate=*/5, config);
      ExpectSameArchive(expected, resumed);
      EXPECT_EQ(resumed.header.history_size(), expected.header.history_size());
    }
  }
}

// The algorithm's named metrics reach the status and every history row, in its declared order,
// and the deprecated fixed fields carry the same values for older clients.
TEST(ExperimentManagerTest, ReportsTheAlgorithmsNamedMetrics) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::string id, manager.Submit(ModelBasedConfig(gdaqd::v1::SchedulerConfig::SYNCHRONOUS)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  const gdaqd::v1::ExperimentStatus status = experiment->Status();
  ASSERT_EQ(status.state(), gdaqd::v1::SUCCEEDED) << status.error();
  const std::vector<MetricSpec> specs = experiment->metric_specs();
  ASSERT_FALSE(specs.empty());
  const Drained drained = Drain(*experiment);
  ASSERT_GT(drained.header.history_size(), 1);
  double last_imagined = 0;
  for (const gdaqd::v1::ProgressSnapshot& row : drained.header.history()) {
    ASSERT_EQ(row.metrics_size(), static_cast<int>(specs.size()));
    for (size_t i = 0; i < specs.size(); ++i) EXPECT_EQ(row.metrics(i).name(), specs[i].name);
    const double imagined = FindMetric(row, "imagined_evaluations").value_or(-1);
    EXPECT_GE(imagined, last_imagined) << "a counter fell at iteration " << row.iteration();
    last_imagined = imagined;
    EXPECT_EQ(row.imagined_evaluations(), imagined);
  }
  const gdaqd::v1::ProgressSnapshot& progress = status.progress();
  EXPECT_GT(last_imagined, 0);
  EXPECT_EQ(FindMetric(progress, "model_train_calls"), progress.model_train_calls());
  EXPECT_EQ(FindMetric(progress, "training_seconds"), progress.training_seconds());
  EXPECT_EQ(FindMetric(progress, "critic_loss"), progress.critic_loss());

  // MAP-Elites declares none: no named metrics, and the fixed fields say "no model".
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string me_id, manager.Submit(Config(32)));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto me, manager.Get(me_id));
  ASSERT_TRUE(me->WaitFinished(kWait));
  EXPECT_TRUE(me->metric_specs().empty());
  EXPECT_EQ(me->Status().progress().metrics_size(), 0);
  EXPECT_TRUE(std::isnan(me->Status().progress().critic_loss()));
  EXPECT_EQ(me->Status().progress().imagined_evaluations(), 0);
}

TEST(ExperimentManagerTest, FinishedExperimentExportsFromDiskAfterRestart) {
  const std::string dir = FreshDir("final");
  LocalEvaluator evaluator(1);
  Drained before;
  {
    auto state = storage::StateDir::Open(dir).value();
    ExperimentManager manager(&evaluator, StoredOptions(state.get(), absl::Seconds(60)));
    GDAQD_ASSERT_OK(manager.RestoreAll().status());
    GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(Config(64)));
    GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
    ASSERT_TRUE(experiment->WaitFinished(kWait));
    before = Drain(*experiment);
  }
  auto state = storage::StateDir::Open(dir).value();
  ExperimentManager manager(&evaluator, StoredOptions(state.get(), absl::Seconds(60)));
  GDAQD_ASSERT_OK(manager.RestoreAll().status());
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get("exp-1"));
  EXPECT_EQ(experiment->Status().state(), gdaqd::v1::SUCCEEDED);
  EXPECT_EQ(experiment->Status().restarts(), 0);
  const Drained after = Drain(*experiment);
  ExpectSameArchive(before, after);
  EXPECT_EQ(after.header.status().progress().evaluations(), 64);
}

// While the final checkpoint is written, the experiment does not look finished yet (a crash now
// resumes it from its previous checkpoint, so no client may have seen it end or deleted it), and
// an ExportArchive reads beside the write, which streams the export under a shared hold of the
// archive, rather than waiting for the disk. The hook stops the final write half-way (inside the
// export: its elites' parameters are nearly all of the payload) until an export has been drained
// or 20 s have passed. The experiment is cancelled once it has elites; the only write after that
// is the final one.
TEST(ExperimentManagerTest, FinalCheckpointWriteNeitherShowsTheEndNorBlocksExports) {
  const std::string dir = FreshDir("export_beside_final");
  LocalEvaluator evaluator(1);
  std::atomic<const Experiment*> watched{nullptr};  // set once the final write is next
  std::atomic<bool> held{false};                    // the final write has been stopped once
  absl::Notification exported, hook_returned;
  std::unique_ptr<common::Thread> reader;
  storage::StateDir::Options state_options;
  state_options.mid_write_hook = [&](const std::string&) {
    const Experiment* experiment = watched.load();
    if (experiment == nullptr || held.exchange(true)) return;
    EXPECT_FALSE(experiment->finished());
    EXPECT_EQ(experiment->Status().state(), gdaqd::v1::RUNNING);
    reader = std::make_unique<common::Thread>("export", [experiment, &exported] {
      const Drained drained = Drain(*experiment);
      EXPECT_FALSE(drained.elites.empty());
      exported.Notify();
    });
    EXPECT_TRUE(exported.WaitForNotificationWithTimeout(absl::Seconds(20)))
        << "the export waited for the final checkpoint's write";
    hook_returned.Notify();
  };
  auto state = storage::StateDir::Open(dir, state_options).value();
  ExperimentManager manager(&evaluator, StoredOptions(state.get(), absl::Seconds(60)));
  GDAQD_ASSERT_OK(manager.RestoreAll().status());
  gdaqd::v1::ExperimentConfig config = Config(100'000'000);
  config.mutable_policy()->set_hidden_sizes(0, 64);  // ~4.5k parameters per elite
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, manager.Submit(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(id));
  const absl::Time deadline = absl::Now() + kWait;
  while (experiment->Status().progress().evaluations() < 64 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  watched.store(experiment.get());
  experiment->Cancel();
  // The final state is visible before the final checkpoint is on disk; the hook's return says
  // the write got past half-way.
  ASSERT_TRUE(hook_returned.WaitForNotificationWithTimeout(kWait))
      << "the final checkpoint was not written";
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  EXPECT_EQ(experiment->Status().state(), gdaqd::v1::CANCELLED);
  reader.reset();  // joins
  EXPECT_TRUE(exported.HasBeenNotified());
}

}  // namespace
}  // namespace gdaqd::server

namespace gdaqd::server {
namespace {

TEST(ExperimentManagerAdmissionTest, RefusesWhatItCannotHoldAndNamesTheLimit) {
  LocalEvaluator evaluator(1);
  ExperimentManager manager(&evaluator);
  gdaqd::v1::ExperimentConfig huge = Config(100);
  huge.mutable_policy()->clear_hidden_sizes();
  huge.mutable_archive()->add_cells_per_dim(978);
  huge.mutable_archive()->add_cells_per_dim(978);
  EXPECT_THAT(manager.Submit(huge), StatusIs(absl::StatusCode::kResourceExhausted,
                                             ::testing::HasSubstr("--max_experiment_bytes")));
  EXPECT_TRUE(manager.List().empty()) << "a refused experiment takes no id";
}

TEST(ExperimentManagerAdmissionTest, MemoryBudgetCountsUnfinishedExperimentsOnly) {
  LocalEvaluator evaluator(1);
  GDAQD_ASSERT_OK_AND_ASSIGN(ResourceEstimate one, EstimateExperimentResources([] {
                               gdaqd::v1::ExperimentConfig c = Config(100'000'000);
                               common::ApplyDefaults(&c);
                               return c;
                             }()));
  ExperimentManagerOptions options;
  options.admission.memory_budget_bytes = one.total * 3 / 2;
  ExperimentManager manager(&evaluator, options);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string first, manager.Submit(Config(100'000'000)));
  EXPECT_THAT(
      manager.Submit(Config(100'000'000)),
      StatusIs(absl::StatusCode::kResourceExhausted, ::testing::HasSubstr("--memory_budget")));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto experiment, manager.Get(first));
  experiment->Cancel();
  ASSERT_TRUE(experiment->WaitFinished(kWait));
  GDAQD_EXPECT_OK(manager.Submit(Config(16)).status());
}

}  // namespace
}  // namespace gdaqd::server
