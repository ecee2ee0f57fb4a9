#include "client/progress.h"

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::client {
namespace {

using ::testing::HasSubstr;

TEST(WithThousandsTest, GroupsDigitsByThree) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(1234567), "1,234,567");
  EXPECT_EQ(WithThousands(-100000), "-100,000");
}

TEST(FormatProgressTest, ShowsBarCountersAndMetrics) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::RUNNING);
  status.set_connected_workers(2);
  status.mutable_config()->mutable_budget()->set_max_evaluations(100000);
  auto* p = status.mutable_progress();
  p->set_iteration(400);
  p->set_evaluations(40000);
  p->set_qd_score_pct(31.25);
  p->set_coverage_pct(52.1);
  p->set_max_fitness(-12.345);
  p->set_evaluations_per_s(8200);
  const std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, HasSubstr("[####------]  40%"));
  EXPECT_THAT(line, HasSubstr("evals 40,000/100,000"));
  EXPECT_THAT(line, HasSubstr("QD 31.2%"));
  EXPECT_THAT(line, HasSubstr("cov 52.1%"));
  EXPECT_THAT(line, HasSubstr("max -12.35"));
  EXPECT_THAT(line, HasSubstr("8,200 ev/s | 2 workers"));
}

TEST(FormatProgressTest, ShowsImaginationAndLossesOnlyWhenThereAreModels) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::RUNNING);
  auto* p = status.mutable_progress();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  p->set_model_holdout_loss(nan);
  p->set_critic_loss(nan);
  std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, ::testing::Not(HasSubstr("imagined")));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("nll")));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("critic")));
  p->set_imagined_evaluations(123456);
  p->set_model_holdout_loss(-2.5);
  p->set_critic_loss(0.0123);
  line = FormatProgress(status, 10);
  EXPECT_THAT(line, HasSubstr("imagined 123,456"));
  EXPECT_THAT(line, HasSubstr("model nll -2.50"));
  EXPECT_THAT(line, HasSubstr("critic 0.0123"));
}

// A server with named metrics: the line reads them by name, and a metric the algorithm does not
// report is not shown even if the deprecated fixed field holds something.
TEST(FormatProgressTest, ReadsTheNamedMetrics) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::RUNNING);
  auto* p = status.mutable_progress();
  p->set_critic_loss(9.0);  // stale fixed field: ignored once named metrics are there
  auto add = [&](const char* name, double value) {
    gdaqd::v1::Metric* metric = p->add_metrics();
    metric->set_name(name);
    metric->set_value(value);
  };
  add("imagined_evaluations", 2000);
  add("model_holdout_loss", 0.5);
  add("toy_metric", 3);
  const std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, HasSubstr("imagined 2,000"));
  EXPECT_THAT(line, HasSubstr("model nll 0.50"));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("critic")));
  EXPECT_THAT(ProgressMetric(*p, "toy_metric"), ::testing::Optional(3.0));
  EXPECT_EQ(ProgressMetric(*p, "critic_loss"), std::nullopt);
}

TEST(ProgressMetricTest, OlderServersFixedFieldsServeTheLegacyNames) {
  gdaqd::v1::ProgressSnapshot old;
  old.set_imagined_evaluations(12);
  old.set_gradient_seconds(1.5);
  EXPECT_THAT(ProgressMetric(old, "imagined_evaluations"), ::testing::Optional(12.0));
  EXPECT_THAT(ProgressMetric(old, "gradient_seconds"), ::testing::Optional(1.5));
  EXPECT_EQ(ProgressMetric(old, "evaluations"), std::nullopt);  // a core field, not a metric
  EXPECT_EQ(ProgressMetric(old, "toy_metric"), std::nullopt);
}

TEST(FormatProgressTest, EmptyArchiveHasNoMaxAndFinalStateIsNamed) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::CANCELLED);
  status.mutable_progress()->set_max_fitness(-std::numeric_limits<double>::infinity());
  const std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, ::testing::Not(HasSubstr("max")));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("inf")));
  EXPECT_THAT(line, HasSubstr("CANCELLED"));
}

TEST(FormatDurationTest, PicksTwoUnits) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(59.4), "59s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(2 * 3600 + 7 * 60 + 30), "2h07m");
  EXPECT_EQ(FormatDuration(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(FormatDuration(-1), "-");
  EXPECT_EQ(FormatDuration(std::numeric_limits<double>::infinity()), "-");
}

gdaqd::v1::ExperimentStatus Running(int64_t evaluations, int64_t budget, double wall_seconds) {
  gdaqd::v1::ExperimentStatus status;
  status.set_id("exp-7");
  status.set_state(gdaqd::v1::RUNNING);
  status.mutable_config()->set_name("ant seeds");
  status.mutable_config()->set_algorithm(gdaqd::v1::GDA_QD);
  status.mutable_config()->mutable_env()->set_task("ant_maze");
  status.mutable_config()->mutable_budget()->set_max_evaluations(budget);
  status.mutable_progress()->set_evaluations(evaluations);
  status.mutable_progress()->set_wall_seconds(wall_seconds);
  return status;
}

TEST(EtaSecondsTest, ExtrapolatesTheAverageRateOnlyWhileRunning) {
  EXPECT_DOUBLE_EQ(EtaSeconds(Running(25000, 100000, 60)), 180);
  EXPECT_EQ(EtaSeconds(Running(0, 100000, 60)), -1);       // no rate yet
  EXPECT_EQ(EtaSeconds(Running(100000, 100000, 60)), -1);  // budget spent
  gdaqd::v1::ExperimentStatus done = Running(25000, 100000, 60);
  done.set_state(gdaqd::v1::CANCELLED);
  EXPECT_EQ(EtaSeconds(done), -1);
}

TEST(FormatProgressTest, ShowsElapsedAndEta) {
  const std::string line = FormatProgress(Running(25000, 100000, 60), 10);
  EXPECT_THAT(line, HasSubstr("| elapsed 1m00s | ETA 3m00s"));
}

// An RL run's budget is environment steps: the bar, the ETA and the table follow the steps.
TEST(FormatProgressTest, AStepBudgetIsMeasuredInSteps) {
  gdaqd::v1::ExperimentStatus status = Running(40, 0, 30);
  status.mutable_config()->set_algorithm(gdaqd::v1::TD3);
  status.mutable_config()->mutable_budget()->set_max_env_steps(100000);
  gdaqd::v1::Metric* steps = status.mutable_progress()->add_metrics();
  steps->set_name("env_steps");
  steps->set_value(10000);
  const std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, HasSubstr("[#---------]  10%"));
  EXPECT_THAT(line, HasSubstr("steps 10,000/100,000 | evals 40"));
  EXPECT_DOUBLE_EQ(EtaSeconds(status), 270);
  EXPECT_THAT(FormatStatusTable({status}), HasSubstr("10,000/100,000 steps (10%)"));
  // Both bounds set: whichever is nearer its end is shown.
  status.mutable_config()->mutable_budget()->set_max_evaluations(50);
  EXPECT_THAT(FormatProgress(status, 10), HasSubstr("evals 40/50"));
}

TEST(FormatStatusTableTest, HeaderThenAlignedRowsWithErrors) {
  gdaqd::v1::ExperimentStatus failed = Running(500, 1000, 5);
  failed.set_id("exp-12");
  failed.set_state(gdaqd::v1::FAILED);
  failed.set_error("worker pool gone");
  failed.mutable_config()->clear_name();
  const std::string table = FormatStatusTable({Running(25000, 100000, 60), failed});
  const std::vector<std::string> lines = absl::StrSplit(table, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << table;
  EXPECT_EQ(lines[0],
            "ID      NAME       ALGORITHM  TASK      STATE    PROGRESS              ELAPSED  ETA");
  EXPECT_EQ(
      lines[1],
      "exp-7   ant seeds  GDA_QD     ant_maze  RUNNING  25,000/100,000 (25%)  1m00s    3m00s");
  EXPECT_EQ(lines[2],
            "exp-12  -          GDA_QD     ant_maze  FAILED   500/1,000 (50%)       5s       -");
  EXPECT_EQ(lines[3], "  error: worker pool gone");
}

}  // namespace
}  // namespace gdaqd::client
