#include "server/algorithms/progress_metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/snapshot_metrics.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

TEST(ProgressMetricsTest, NamesAreSnakeCase) {
  EXPECT_TRUE(IsValidMetricName("critic_loss"));
  EXPECT_TRUE(IsValidMetricName("a1_b2"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("Critic_loss"));
  EXPECT_FALSE(IsValidMetricName("1st"));
  EXPECT_FALSE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName("critic-loss"));
  EXPECT_FALSE(IsValidMetricName("critic loss"));
  EXPECT_FALSE(IsValidMetricName(std::string(65, 'a')));
}

TEST(ProgressMetricsTest, CheckMetricsNamesTheFirstOffence) {
  const std::vector<MetricSpec> specs = {{"a", "help a", MetricKind::kCounter},
                                         {"b", "help b", MetricKind::kGauge}};
  GDAQD_EXPECT_OK(CheckMetrics(specs));
  const std::vector<Metric> good = {{"a", 1}, {"b", kNan}};
  GDAQD_EXPECT_OK(CheckMetrics(specs, &good));
  const std::vector<Metric> swapped = {{"b", 1}, {"a", 2}};
  EXPECT_THAT(CheckMetrics(specs, &swapped),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metric 0 is 'b'")));
  const std::vector<Metric> short_list = {{"a", 1}};
  EXPECT_THAT(CheckMetrics(specs, &short_list),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reported 1 metrics")));
  EXPECT_THAT(CheckMetrics({{"a", "x", MetricKind::kGauge}, {"a", "y", MetricKind::kGauge}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("declared twice")));
  EXPECT_THAT(CheckMetrics({{"Bad", "x", MetricKind::kGauge}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("snake_case")));
  for (const char* reserved : {"evaluations", "wall_seconds", "evaluation_seconds", "metrics",
                               "iterations", "state", "coverage_ratio"}) {
    EXPECT_THAT(CheckMetrics({{reserved, "x", MetricKind::kCounter}}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")))
        << reserved;
  }
  EXPECT_THAT(CheckMetrics({{"no_help", "", MetricKind::kGauge}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no help")));
}

TEST(ProgressMetricsTest, PrometheusNamesFollowTheNamingGuide) {
  EXPECT_EQ(PrometheusFamilyName({"critic_loss", "h", MetricKind::kGauge}),
            "gdaqd_experiment_critic_loss");
  EXPECT_EQ(PrometheusFamilyName({"imagined_evaluations", "h", MetricKind::kCounter}),
            "gdaqd_experiment_imagined_evaluations_total");
  EXPECT_EQ(PrometheusFamilyName({"steps_total", "h", MetricKind::kCounter}),
            "gdaqd_experiment_steps_total");
  EXPECT_EQ(DefaultMetricValue(MetricKind::kCounter), 0);
  EXPECT_TRUE(std::isnan(DefaultMetricValue(MetricKind::kGauge)));
}

// The legacy names are the deprecated fields of the snapshot, so old clients keep reading them.
TEST(ProgressMetricsTest, LegacyMetricsAreValidAndFillTheDeprecatedFields) {
  GDAQD_EXPECT_OK(CheckMetrics(LegacyLearningMetrics()));
  // The writer's list (here) and the readers' (common/snapshot_metrics.h) are the same names.
  std::vector<std::string> written;
  for (const MetricSpec& spec : LegacyLearningMetrics()) written.push_back(spec.name);
  EXPECT_THAT(written, ::testing::ElementsAreArray(common::LegacyLearningMetricNames()));
  gdaqd::v1::ProgressSnapshot snapshot;
  SetSnapshotMetrics({{"toy_metric", 7}, {"imagined_evaluations", 12}, {"critic_loss", 0.5}},
                     &snapshot);
  ASSERT_EQ(snapshot.metrics_size(), 3);
  EXPECT_EQ(snapshot.metrics(0).name(), "toy_metric");
  EXPECT_EQ(snapshot.metrics(0).value(), 7);
  EXPECT_EQ(snapshot.imagined_evaluations(), 12);
  EXPECT_EQ(snapshot.critic_loss(), 0.5);
  EXPECT_TRUE(std::isnan(snapshot.model_holdout_loss()));  // not reported: NaN, not 0
  EXPECT_TRUE(std::isnan(snapshot.model_holdout_mse()));
  EXPECT_EQ(snapshot.training_seconds(), 0);
  EXPECT_THAT(FindMetric(snapshot, "toy_metric"), Optional(7.0));
  EXPECT_EQ(FindMetric(snapshot, "model_holdout_loss"), std::nullopt);
  EXPECT_EQ(FindMetric(snapshot, "absent"), std::nullopt);
}

TEST(ProgressMetricsTest, SnapshotWithoutNamedMetricsReadsTheFixedFields) {
  gdaqd::v1::ProgressSnapshot old;  // from a server before named metrics
  old.set_imagined_evaluations(40);
  old.set_training_seconds(1.5);
  EXPECT_THAT(FindMetric(old, "imagined_evaluations"), Optional(40.0));
  EXPECT_THAT(FindMetric(old, "training_seconds"), Optional(1.5));
  EXPECT_EQ(FindMetric(old, "evaluations"), std::nullopt);  // not a metric, a core field
  EXPECT_EQ(FindMetric(old, "toy_metric"), std::nullopt);
}

}  // namespace
}  // namespace gdaqd::server
