// PrepareResultsFolder (the --out/--force rule), provenance.json and FittestCell.
#include "client/results_folder.h"

#include <filesystem>
#include <fstream>

#include "client/provenance.h"
#include "client/replay.h"
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
