// PrepareResultsFolder (the --out/--force rule), provenance.json and FittestCell.
#include "client/results_folder.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/provenance.h"
#include "client/replay.h"
#include "client/results/atomic_file.h"
#include "client/results/csv.h"
#include "client/results/scratch_dir_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

namespace fs = std::filesystem;
using ::gdaqd::testing::IsOkAndHolds;
using results_testing::TempPath;
using ::testing::HasSubstr;

void Touch(const fs::path& path) { std::ofstream(path) << "x\n"; }

TEST(PrepareResultsFolderTest, MissingAndEmptyFoldersAreFine) {
  const std::string dir = TempPath("out");
  EXPECT_THAT(PrepareResultsFolder(dir, /*force=*/false), IsOkAndHolds(0));
  fs::create_directories(dir);
  EXPECT_THAT(PrepareResultsFolder(dir, /*force=*/false), IsOkAndHolds(0));
}

TEST(PrepareResultsFolderTest, RefusesNonEmptyFolderWithoutForceAndTouchesNothing) {
  const std::string dir = TempPath("out");
  fs::create_directories(dir);
  Touch(fs::path(dir) / "metrics.csv");
  absl::StatusOr<int> prepared = PrepareResultsFolder(dir, /*force=*/false);
  ASSERT_EQ(prepared.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prepared.status().message(), HasSubstr(dir));
  EXPECT_THAT(prepared.status().message(), HasSubstr("--force"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "metrics.csv"));
}

TEST(PrepareResultsFolderTest, ForceRemovesResultsFilesAndKeepsOthers) {
  const fs::path dir = TempPath("out");
  fs::create_directories(dir / "state" / "exp-1");
  fs::create_directories(dir / "logs");
  for (const char* name : {"config.textproto", "archive.csv", "trajectory_12.csv",
                           "trajectory_7.csv", "metrics.csv.tmp", "notes.txt"}) {
    Touch(dir / name);
  }
  EXPECT_THAT(PrepareResultsFolder(dir.string(), /*force=*/true), IsOkAndHolds(7));
  EXPECT_FALSE(fs::exists(dir / "trajectory_12.csv"));
  EXPECT_FALSE(fs::exists(dir / "state"));
  EXPECT_FALSE(fs::exists(dir / "metrics.csv.tmp"));
  EXPECT_TRUE(fs::exists(dir / "notes.txt"));  // not ours: kept
}

TEST(PrepareResultsFolderTest, RefusesAFile) {
  const std::string path = TempPath("file");
  Touch(path);
  EXPECT_EQ(PrepareResultsFolder(path, /*force=*/true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// A point_maze archive without elites and two history rows; `models` gives the rows learned-model
// values (GDA-QD), otherwise they are NaN as for MAP-Elites.
ExportedArchive TinyArchive(bool models) {
  ExportedArchive archive;
  v1::ArchiveHeader& header = archive.header;
  v1::ExperimentConfig& config = *header.mutable_status()->mutable_config();
  config.set_algorithm(models ? v1::GDA_QD : v1::MAP_ELITES);
  config.mutable_env()->set_task("point_maze");
  config.mutable_env()->set_episode_length(10);
  header.set_descriptor_dim(2);
  for (int d = 0; d < 2; ++d) {
    header.add_descriptor_low(-1);
    header.add_descriptor_high(1);
    header.add_cells_per_dim(5);
  }
  for (int i = 1; i <= 2; ++i) {
    v1::ProgressSnapshot& row = *header.add_history();
    row.set_iteration(i);
    row.set_evaluations(100 * i);
    row.set_qd_score_pct(10 * i);
    row.set_coverage_pct(20 * i);
    row.set_max_fitness(-5 + i);
    row.set_imagined_evaluations(models ? 50 * i : 0);
    row.set_model_holdout_loss(models ? 1.5 / i : NAN);
    row.set_critic_loss(models ? 0.3 * i : NAN);
  }
  return archive;
}

TEST(WriteResultsFolderTest, PicturesNameTheAxesMarkTheTaskAndShowTheModels) {
  const std::string dir = TempPath("gda");
  GDAQD_ASSERT_OK(WriteResultsFolder(dir, TinyArchive(/*models=*/true)));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string archive, ReadFileToString(dir + "/archive.svg"));
  EXPECT_THAT(archive, HasSubstr(">final x</text>"));
  EXPECT_THAT(archive, HasSubstr(">goal</text>"));
  EXPECT_THAT(archive, HasSubstr(">start</text>"));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string progress, ReadFileToString(dir + "/progress.svg"));
  for (const char* panel : {"QD-score %", "coverage %", "max fitness", "imagined episodes",
                            "model holdout NLL", "critic loss"}) {
    EXPECT_THAT(progress, HasSubstr(absl::StrCat(">", panel, "</text>")));
  }
  // No provenance unless given.
  EXPECT_FALSE(fs::exists(dir + "/provenance.json"));
}

TEST(WriteResultsFolderTest, NoModelPanelsWithoutModelsAndProvenanceWhenGiven) {
  const std::string dir = TempPath("me");
  Provenance provenance;
  provenance.version = "9.9.9";
  GDAQD_ASSERT_OK(WriteResultsFolder(dir, TinyArchive(/*models=*/false), &provenance));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string progress, ReadFileToString(dir + "/progress.svg"));
  EXPECT_THAT(progress, HasSubstr(">max fitness</text>"));
  EXPECT_THAT(progress, ::testing::Not(HasSubstr("imagined")));
  EXPECT_THAT(progress, ::testing::Not(HasSubstr("NLL")));
  EXPECT_THAT(progress, ::testing::Not(HasSubstr("critic")));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string json, ReadFileToString(dir + "/provenance.json"));
  EXPECT_THAT(json, HasSubstr("\"gdaqd_version\": \"9.9.9\""));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string config, ReadFileToString(dir + "/config.textproto"));
  EXPECT_THAT(config, HasSubstr("seed: 0\n"));
}

// A server with named metrics: the fixed learned-model columns come from the metrics of those
// names, and every other metric (here one only a test knows) gets a column of its own.
TEST(WriteResultsFolderTest, NamedMetricsFillTheFixedColumnsAndAddTheirOwn) {
  const std::string dir = TempPath("named");
  ExportedArchive archive = TinyArchive(/*models=*/false);
  for (v1::ProgressSnapshot& row : *archive.header.mutable_history()) {
    v1::Metric* critic = row.add_metrics();
    critic->set_name("critic_loss");
    critic->set_value(0.125 * row.iteration());
    v1::Metric* toy = row.add_metrics();
    toy->set_name("toy_metric");
    toy->set_value(7 * row.iteration());
  }
  GDAQD_ASSERT_OK(WriteResultsFolder(dir, archive));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string text, ReadFileToString(dir + "/metrics.csv"));
  EXPECT_THAT(text, ::testing::StartsWith(
                        "iteration,evaluations,qd_score,qd_score_pct,coverage_pct,max_fitness,"
                        "wall_seconds,imagined_evaluations,model_holdout_loss,model_holdout_mse,"
                        "critic_loss,evaluation_seconds,imagination_seconds,training_seconds,"
                        "gradient_seconds,toy_metric\n"));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<MetricsRow> rows, ReadMetricsCsv(dir + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].critic_loss, 0.25);  // the named value, not the fixed field's NaN
  EXPECT_TRUE(std::isnan(rows[1].model_holdout_loss));  // not reported: NaN
  EXPECT_EQ(rows[1].imagined_evaluations, 0);
  EXPECT_THAT(FindMetric(rows[1], "toy_metric"), ::testing::Optional(14.0));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::string progress, ReadFileToString(dir + "/progress.svg"));
  EXPECT_THAT(progress, HasSubstr(">critic loss</text>"));
}

TEST(ProvenanceJsonTest, HasEveryKeyEscapedWithUtcTimes) {
  Provenance p;
  p.version = "0.1.0";
  p.commit = "abc1234";
  p.command = "gdaqd run \"a b\".textproto";
  FillMachineInfo(&p);
  p.start_time = absl::FromUnixSeconds(1700000000);
  p.end_time = p.start_time + absl::Milliseconds(61500);
  const std::string json = ProvenanceJson(p);
  EXPECT_THAT(json, HasSubstr("\"gdaqd_version\": \"0.1.0\""));
  EXPECT_THAT(json, HasSubstr("\"git_commit\": \"abc1234\""));
  EXPECT_THAT(json, HasSubstr("\"command\": \"gdaqd run \\\"a b\\\".textproto\""));
  EXPECT_THAT(json, HasSubstr("\"start_time\": \"2023-11-14T22:13:20.000Z\""));
  EXPECT_THAT(json, HasSubstr("\"end_time\": \"2023-11-14T22:14:21.500Z\""));
  EXPECT_THAT(json, HasSubstr("\"wall_seconds\": 61.500"));
  EXPECT_FALSE(p.host.empty());
  EXPECT_GT(p.cpu_count, 0);
  EXPECT_THAT(json, HasSubstr(absl::StrCat("\"cpu_model\": \"", JsonEscape(p.cpu_model), "\"")));
}

TEST(ProvenanceJsonTest, UnknownTimesAreNull) {
  const std::string json = ProvenanceJson(Provenance{});
  EXPECT_THAT(json, HasSubstr("\"start_time\": null"));
  EXPECT_THAT(json, HasSubstr("\"wall_seconds\": null"));
}

TEST(FittestCellTest, PicksHighestFitnessLowestCellOnTies) {
  const fs::path dir = TempPath("folder");
  fs::create_directories(dir);
  std::vector<ArchiveRow> rows = {
      {3, {0.f}, {0.f}, 1.5f}, {9, {0.f}, {0.f}, 4.0f}, {5, {0.f}, {0.f}, 4.0f}};
  ASSERT_TRUE(WriteArchiveCsv((dir / "archive.csv").string(), 1, rows).ok());
  EXPECT_THAT(FittestCell(dir.string()), IsOkAndHolds(5));
  ASSERT_TRUE(WriteArchiveCsv((dir / "archive.csv").string(), 1, {}).ok());
  EXPECT_EQ(FittestCell(dir.string()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gdaqd::client
