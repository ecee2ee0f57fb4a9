#include "bench/study.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/results/svg_plots.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::bench {
namespace {

using ::testing::HasSubstr;

StudyRun Cell(const std::string& task, const std::string& algorithm, int64_t seed,
              const std::string& schedule = "") {
  StudyRun run;
  run.task = task;
  run.algorithm = algorithm;
  run.schedule = schedule;
  run.seed = seed;
  run.budget = 1000;
  return run;
}

TEST(StudyRunConfigTest, NamesTheRunAndSetsItsCell) {
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      StudyRunConfig(Cell("ant_trap", "GDA_QD", 2, "PIPELINED"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "ant_trap_gda_qd_pipelined_s2");
  EXPECT_EQ(config->algorithm(), gdaqd::v1::GDA_QD);
  EXPECT_EQ(config->seed(), 2u);
  EXPECT_EQ(config->env().task(), "ant_trap");
  EXPECT_EQ(config->budget().max_evaluations(), 1000);
  EXPECT_EQ(config->scheduler().learning_schedule(), gdaqd::v1::SchedulerConfig::PIPELINED);
  EXPECT_EQ(RunName(Cell("point_maze", "MAP_ELITES", 0)), "point_maze_map_elites_s0");
  EXPECT_EQ(GroupLabel(Cell("ant_trap", "GDA_QD", 0, "PIPELINED")), "GDA_QD_PIPELINED");
}

TEST(StudyRunConfigTest, ExtraMergesIntoSectionsTheBaseAlreadyHas) {
  const std::string extra = "env { action_map: CLIP_1_DIVIDE_10 } model { retrain_every: 5 }";
  // What bench_reproduce did before: one text with env twice, refused.
  EXPECT_FALSE(common::ParseExperimentConfig(
                   absl::StrCat("name: \"x\" env { task: \"point_maze\" } budget { "
                                "max_evaluations: 1000 } ",
                                extra))
                   .ok());
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      StudyRunConfig(Cell("point_maze", "DA_QD_EXT", 0), extra);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->env().task(), "point_maze");
  EXPECT_EQ(config->env().action_map(), gdaqd::v1::EnvConfig::CLIP_1_DIVIDE_10);
  EXPECT_EQ(config->model().retrain_every(), 5);
  EXPECT_EQ(config->name(), "point_maze_da_qd_ext_s0");
  // Defaults were applied after the merge.
  EXPECT_EQ(config->emitter().batch_size(), common::kDefaultBatchSize);
  // A later value wins over the base's.
  config = StudyRunConfig(Cell("point_maze", "MAP_ELITES", 0), "seed: 7");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->seed(), 7u);
}

TEST(StudyRunConfigTest, RefusesBadNamesTextAndConfigs) {
  EXPECT_EQ(StudyRunConfig(Cell("point_maze", "NOPE", 0), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StudyRunConfig(Cell("ant_trap", "GDA_QD", 0, "SOMETIMES"), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status parse = StudyRunConfig(Cell("point_maze", "GDA_QD", 0), "env {").status();
  EXPECT_EQ(parse.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parse.message(), HasSubstr("line 1"));
  // Validation runs on the merged config: the ants take no action map.
  const absl::Status invalid =
      StudyRunConfig(Cell("ant_trap", "GDA_QD", 0), "env { action_map: CLIP_0_1 }").status();
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(invalid.message(), HasSubstr("action_map"));
}

class StudyReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = absl::StrCat(::testing::TempDir(), "/study_test_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A finished run whose QD-score % grows linearly to `final_qd` over 10 iterations of 100
  // evaluations, `seconds_per_iteration` apart.
  static StudyRun Finished(StudyRun run, double final_qd, double seconds_per_iteration) {
    run.finished = true;
    for (int i = 1; i <= 10; ++i) {
      client::MetricsRow row{};
      row.iteration = i;
      row.evaluations = 100 * i;
      row.qd_score_pct = final_qd * i / 10;
      row.coverage_pct = final_qd / 2 * i / 10;
      row.max_fitness = -100 + i;
      row.wall_seconds = seconds_per_iteration * i;
      row.evaluation_seconds = row.wall_seconds / 2;
      run.metrics.push_back(row);
    }
    run.commit = "abc";
    return run;
  }

  std::string Read(const std::string& file) const {
    std::ifstream in(dir_ + "/" + file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
};

TEST_F(StudyReportTest, TableFromFinishedRunsWithTestsAgainstMapElites) {
  // MAP-Elites finals 10, 20, 30: target 20, reached at never, 1000 and 700 evaluations.
  // GDA-QD: 2 of 3 finished, finals 40 and 50: reached at 500 and 400.
  const std::vector<StudyRun> runs = {
      Finished(Cell("point_maze", "MAP_ELITES", 0), 10, 10),
      Finished(Cell("point_maze", "GDA_QD", 0), 40, 10),
      Finished(Cell("point_maze", "MAP_ELITES", 1), 20, 10),
      Finished(Cell("point_maze", "GDA_QD", 1), 50, 10),
      Finished(Cell("point_maze", "MAP_ELITES", 2), 30, 10),
      Cell("point_maze", "GDA_QD", 2),  // unfinished: no metrics
      Finished(Cell("point_maze", "GDA_QD", 0, "PIPELINED"), 36, 5),
  };
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_, runs, {"0,1,2", "point_maze=1000", "", 2, 2});
  ASSERT_TRUE(md.ok()) << md.status();
  const std::string csv = Read("table1.csv");
  // ME's own evaluations to target: [censored, 1000, 700], median 1000, ratio 1.
  EXPECT_THAT(csv, HasSubstr("point_maze,MAP_ELITES,3,3,1000,20.0000,15.0000,25.0000,"
                             "10.0000,7.5000,12.5000,-90.0000,-90.0000,-90.0000,20.0000,1000,2,"
                             "1.0000,,,,,"));
  // GDA-QD: [500, 400] against [inf, 1000, 700]: U = 0, p = 2/10; finals [40, 50] against
  // [10, 20, 30]: U = 6, p = 2/10. Median 450, ME budget / 450 = 2.2222.
  EXPECT_THAT(csv, HasSubstr("point_maze,GDA_QD,2,3,1000,45.0000,42.5000,47.5000,"
                             "22.5000,21.2500,23.7500,-90.0000,-90.0000,-90.0000,20.0000,450,2,"
                             "2.2222,0,0.200000,6,0.200000,0,100.0,0.5000,0.0000,0.0000,0.0000,"
                             "abc\n"));
  // The arm is a group of its own, without tests against MAP-Elites.
  EXPECT_THAT(csv, HasSubstr("point_maze,GDA_QD_PIPELINED,1,1,1000,36.0000"));
  EXPECT_THAT(*md, ::testing::ContainsRegex("GDA_QD +\\| 2 of 3 "));
  EXPECT_THAT(*md, HasSubstr("U=0 p=0.2000"));
  // Equal wall time 50 s: SYNCHRONOUS had 20 % then (row at 500 evaluations), the arm its final
  // 36 %; 10 and 5 s per iteration.
  EXPECT_THAT(Read("schedule_arm.csv"),
              HasSubstr("point_maze,GDA_QD_PIPELINED,0,40.0000,36.0000,50.0000,20.0000,"
                        "36.0000,10.0000,5.0000\n"));
  // The curves keep the group with an unfinished seed.
  EXPECT_THAT(Read("progress_point_maze.svg"), HasSubstr("GDA_QD (2)"));
  EXPECT_EQ(Read("results.md"), *md);
}

TEST_F(StudyReportTest, CensoredMedianAndMissingMapElites) {
  // Without finished MAP-Elites runs there is no target: no evaluations or tests, no failure.
  absl::StatusOr<std::string> md = WriteStudyReport(
      dir_, {Finished(Cell("ant_maze", "GDA_QD", 0), 5, 1), Cell("ant_maze", "MAP_ELITES", 0)}, {});
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(Read("table1.csv"), HasSubstr("ant_maze,GDA_QD,1,1,1000,5.0000"));
  EXPECT_THAT(*md, ::testing::ContainsRegex("ant_maze +\\| MAP_ELITES +\\| 0 of 1 "));
  // MAP-Elites at 50 %, PGA-ME never gets there in 2 of 3 runs: median censored.
  md = WriteStudyReport(
      dir_,
      {Finished(Cell("t", "MAP_ELITES", 0), 50, 1), Finished(Cell("t", "PGA_ME", 0), 60, 1),
       Finished(Cell("t", "PGA_ME", 1), 40, 1), Finished(Cell("t", "PGA_ME", 2), 30, 1)},
      {});
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(Read("table1.csv"), HasSubstr(",50.0000,censored,1,censored,"));
  EXPECT_THAT(*md, HasSubstr("> 1000 (1 of 3 reach)"));
}

TEST_F(StudyReportTest, LoadsOnlyRunsThatSucceededWithTheFullBudget) {
  StudyRun run = Cell("point_maze", "MAP_ELITES", 0);
  run.dir = dir_ + "/run";
  EXPECT_FALSE(LoadFinishedRun(run));  // no folder
  std::filesystem::create_directories(run.dir);
  ASSERT_TRUE(client::WriteMetricsCsv(run.dir + "/metrics.csv",
                                      Finished(Cell("point_maze", "MAP_ELITES", 0), 10, 1).metrics)
                  .ok());
  auto status = [&](const std::string& state, int64_t evaluations) {
    return client::WriteTextFile(
        run.dir + "/status.textproto",
        absl::StrCat("state: ", state, " progress { evaluations: ", evaluations, " }"));
  };
  ASSERT_TRUE(status("RUNNING", 1000).ok());
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 900).ok());
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 1000).ok());
  ASSERT_TRUE(NoteRunCommit(run, "c1").ok());
  ASSERT_TRUE(NoteRunCommit(run, "c1").ok());
  ASSERT_TRUE(NoteRunCommit(run, "c2").ok());
  EXPECT_TRUE(LoadFinishedRun(run));
  EXPECT_TRUE(run.finished);
  EXPECT_EQ(run.metrics.size(), 10u);
  EXPECT_EQ(run.commit, "c1,c2");
}

}  // namespace
}  // namespace gdaqd::bench
