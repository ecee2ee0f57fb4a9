#include "server/storage/state_dir.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/durable_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd::server::storage {
namespace {

using ::gdaqd::testing::IsOkAndHolds;
using ::testing::ElementsAre;

std::string FreshDir(const std::string& name) {
  return ::gdaqd::testing::FreshTempDir("state_" + name, /*created=*/false);
}

std::string RecordOf(const StateDir& state, int64_t number) {
  auto loaded = state.OpenNewestCheckpoint(number);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return "";
  return ReadSection(loaded->path, loaded->sections, kRecordSection).value_or("?");
}

TEST(StateDirTest, NumbersAreNeverReusedAcrossRestartsAndDeletes) {
  const std::string dir = FreshDir("numbers");
  {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
    EXPECT_THAT(state->ReserveNumber(), IsOkAndHolds(1));
    EXPECT_THAT(state->ReserveNumber(), IsOkAndHolds(2));
    GDAQD_ASSERT_OK(state->WriteCheckpoint(2, {{kRecordSection, "two"}}));
    GDAQD_ASSERT_OK(state->DeleteExperiment(2));
  }
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
  EXPECT_THAT(state->ReserveNumber(), IsOkAndHolds(3));
}

TEST(StateDirTest, NextIdNeverFallsBelowAnExistingExperiment) {
  const std::string dir = FreshDir("lost_next_id");
  {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
    GDAQD_ASSERT_OK(state->WriteCheckpoint(7, {{kRecordSection, "seven"}}));
  }
  std::filesystem::remove(dir + "/next_id");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
  EXPECT_THAT(state->ListExperiments(), IsOkAndHolds(ElementsAre(7)));
  EXPECT_THAT(state->ReserveNumber(), IsOkAndHolds(8));
}

TEST(StateDirTest, SecondServerOnTheSameDirectoryIsRefused) {
  const std::string dir = FreshDir("lock");
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
  absl::Status second = StateDir::Open(dir).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(second)) << second;
}

TEST(StateDirTest, KeepsTheTwoNewestCheckpoints) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(FreshDir("keep")));
  for (const char* record : {"a", "b", "c", "d"}) {
    GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, record}}));
  }
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(state->ExperimentDir(1))) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 2);
  EXPECT_EQ(RecordOf(*state, 1), "d");
}

TEST(StateDirTest, CancelRequestIsRecordedPerExperimentAndLeavesCheckpointsAlone) {
  const std::string dir = FreshDir("cancel");
  {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
    GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "a"}}));
    GDAQD_ASSERT_OK(state->WriteCheckpoint(2, {{kRecordSection, "b"}}));
    EXPECT_FALSE(state->CancelRequested(1));
    GDAQD_ASSERT_OK(state->MarkCancelRequested(1));
    EXPECT_FALSE(state->MarkCancelRequested(3).ok()) << "no directory for experiment 3";
    GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "c"}}));
    GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "d"}}));
  }
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));  // after a restart
  EXPECT_TRUE(state->CancelRequested(1));
  EXPECT_FALSE(state->CancelRequested(2));
  EXPECT_EQ(RecordOf(*state, 1), "d");
  GDAQD_ASSERT_OK(state->DeleteExperiment(1));
  EXPECT_FALSE(state->CancelRequested(1));
}

TEST(StateDirTest, DamagedNewestFallsBackToThePrevious) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(FreshDir("fallback")));
  GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "older"}}));
  GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "newer"}}));
  const std::string newest = state->OpenNewestCheckpoint(1)->path;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, common::ReadFileToString(newest));
  bytes[bytes.size() / 2] ^= 1;
  GDAQD_ASSERT_OK(common::WriteFileDurably(newest, bytes));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto loaded, state->OpenNewestCheckpoint(1));
  EXPECT_EQ(loaded.damaged_skipped, 1);
  EXPECT_EQ(RecordOf(*state, 1), "older");
  // The next write does not delete the one good checkpoint before the new one is on disk.
  GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "next"}}));
  EXPECT_EQ(RecordOf(*state, 1), "next");
}

TEST(StateDirTest, LeftoverTemporaryFilesAreRemovedAtOpen) {
  const std::string dir = FreshDir("tmp");
  {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
    GDAQD_ASSERT_OK(state->WriteCheckpoint(1, {{kRecordSection, "a"}}));
    GDAQD_ASSERT_OK(common::WriteFileDurably(
        state->ExperimentDir(1) + "/checkpoint-000000002.ckpt.tmp", "half"));
  }
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(dir));
  EXPECT_FALSE(std::filesystem::exists(state->ExperimentDir(1) + "/checkpoint-000000002.ckpt.tmp"));
  EXPECT_EQ(RecordOf(*state, 1), "a");
}

TEST(StateDirTest, NoValidCheckpointIsNotFound) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto state, StateDir::Open(FreshDir("none")));
  EXPECT_TRUE(absl::IsNotFound(state->OpenNewestCheckpoint(5).status()));
}

}  // namespace
}  // namespace gdaqd::server::storage
