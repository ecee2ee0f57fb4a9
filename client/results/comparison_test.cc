#include "client/results/comparison.h"

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "client/results/atomic_file.h"
#include "client/results/scratch_dir_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

using ::gdaqd::client::results_testing::TempPath;
using ::testing::HasSubstr;

// A run logging at 0, 100 and 200 evaluations whose QD-score % grows linearly to `final_qd`.
ComparedRun MakeRun(const std::string& algorithm, double final_qd, double final_fitness) {
  ComparedRun run;
  run.task = "point_maze";
  run.algorithm = algorithm;
  run.name = algorithm + "_run";
  for (int i = 0; i <= 2; ++i) {
    MetricsRow row{};
    row.iteration = i;
    row.evaluations = 100 * i;
    row.qd_score_pct = final_qd * i / 2;
    row.coverage_pct = 2 * final_qd * i / 2;
    row.max_fitness = i == 0 ? -INFINITY : final_fitness;
    row.wall_seconds = 10.0 * i;
    row.evaluation_seconds = 5.0 * i;
    row.imagined_evaluations = algorithm == "GDA_QD" ? 50 * i : 0;
    run.metrics.push_back(row);
  }
  return run;
}

std::vector<ComparedRun> ThreeSeedsOfTwoAlgorithms() {
  return {MakeRun("MAP_ELITES", 10, -5), MakeRun("MAP_ELITES", 40, -3),
          MakeRun("MAP_ELITES", 20, -4), MakeRun("GDA_QD", 30, -2),
          MakeRun("GDA_QD", 50, -1),     MakeRun("GDA_QD", 60, -6)};
}

TEST(QuantileTest, InterpolatesLikeNumpyAndSkipsNonFinite) {
  EXPECT_DOUBLE_EQ(Quantile({10, 40, 20}, 0.5), 20);
  EXPECT_DOUBLE_EQ(Quantile({10, 40, 20}, 0.25), 15);
  EXPECT_DOUBLE_EQ(Quantile({10, 40, 20}, 0.75), 30);
  EXPECT_DOUBLE_EQ(Quantile({1, NAN, 3, INFINITY}, 0.5), 2);
  EXPECT_TRUE(std::isnan(Quantile({NAN}, 0.5)));
}

TEST(SummarizeTest, MediansAndQuartilesOfFinalValuesPerGroup) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<GroupSummary> groups,
                             Summarize(ThreeSeedsOfTwoAlgorithms()));
  ASSERT_EQ(groups.size(), 2u);
  const GroupSummary& me = groups[0];
  EXPECT_EQ(me.algorithm, "MAP_ELITES");
  EXPECT_EQ(me.runs, 3);
  EXPECT_DOUBLE_EQ(me.evaluations, 200);
  EXPECT_DOUBLE_EQ(me.qd_median, 20);
  EXPECT_DOUBLE_EQ(me.qd_q1, 15);
  EXPECT_DOUBLE_EQ(me.qd_q3, 30);
  EXPECT_DOUBLE_EQ(me.coverage_median, 40);
  EXPECT_DOUBLE_EQ(me.max_fitness_median, -4);
  EXPECT_DOUBLE_EQ(me.wall_seconds_median, 20);
  EXPECT_DOUBLE_EQ(me.evaluation_share, 0.5);
  EXPECT_DOUBLE_EQ(me.evaluations_to_me_final_qd, 200);
  ASSERT_EQ(me.qd_score_pct.x.size(), 3u);  // the point at 0 evaluations is kept
  EXPECT_DOUBLE_EQ(me.qd_score_pct.median[1], 10);

  const GroupSummary& gda = groups[1];
  EXPECT_DOUBLE_EQ(gda.qd_median, 50);
  EXPECT_DOUBLE_EQ(gda.qd_q1, 40);
  EXPECT_DOUBLE_EQ(gda.qd_q3, 55);
  EXPECT_DOUBLE_EQ(gda.max_fitness_median, -2);
  EXPECT_DOUBLE_EQ(gda.imagined_median, 100);
  // Median QD-score % 25 at 100 evaluations already beats MAP-Elites' final 20.
  EXPECT_DOUBLE_EQ(gda.evaluations_to_me_final_qd, 100);
}

TEST(SummarizeTest, RejectsEmptyRunsAndDisjointLogs) {
  std::vector<ComparedRun> runs = ThreeSeedsOfTwoAlgorithms();
  runs[1].metrics.clear();
  EXPECT_EQ(Summarize(runs).status().code(), absl::StatusCode::kInvalidArgument);
  runs = ThreeSeedsOfTwoAlgorithms();
  for (MetricsRow& row : runs[0].metrics) row.evaluations += 1;
  absl::StatusOr<std::vector<GroupSummary>> groups = Summarize(runs);
  EXPECT_EQ(groups.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(groups.status().message(), HasSubstr("point_maze MAP_ELITES"));
}

TEST(WriteComparisonTest, WritesTableAndFigure) {
  const std::string dir = TempPath("comparison");
  GDAQD_ASSERT_OK(WriteComparison(dir, ThreeSeedsOfTwoAlgorithms()));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string csv, ReadFileToString(dir + "/table1.csv"));
  EXPECT_THAT(csv, HasSubstr("\npoint_maze,MAP_ELITES,3,200,20.0000,15.0000,30.0000,40.0000,"));
  EXPECT_THAT(csv, HasSubstr("\npoint_maze,GDA_QD,3,200,50.0000,40.0000,55.0000,"));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string md, ReadFileToString(dir + "/table1.md"));
  EXPECT_THAT(md, HasSubstr("| point_maze | GDA_QD | 3 | 200 | 50.0 [40.0, 55.0] |"));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string svg, ReadFileToString(dir + "/progress_point_maze.svg"));
  EXPECT_THAT(svg, HasSubstr("class=\"band\""));
  EXPECT_THAT(svg, HasSubstr("GDA_QD"));
  EXPECT_THAT(svg, ::testing::Not(HasSubstr("nan")));
}

}  // namespace
}  // namespace gdaqd::client
