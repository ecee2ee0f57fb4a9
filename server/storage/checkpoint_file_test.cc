#include "server/storage/checkpoint_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
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
using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  return ::gdaqd::testing::FreshTempDir("ckpt_" + name);
}

std::string WriteSample(const std::string& dir) {
  const std::string path = dir + "/c.ckpt";
  const std::string big(3 << 20, 'b');  // spans several CRC blocks
  EXPECT_TRUE(
      WriteCheckpointFile(
          path, {{kRecordSection, "record"}, {kAlgorithmSection, big}, {kArchiveExportSection, ""}})
          .ok());
  return path;
}

TEST(CheckpointFileTest, SectionsRoundTrip) {
  const std::string path = WriteSample(FreshDir("roundtrip"));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto sections, VerifyCheckpointFile(path));
  ASSERT_EQ(sections.size(), 3u);
  EXPECT_THAT(ReadSection(path, sections, kRecordSection), IsOkAndHolds(std::string("record")));
  EXPECT_THAT(ReadSection(path, sections, kAlgorithmSection),
              IsOkAndHolds(std::string(3 << 20, 'b')));
  EXPECT_THAT(ReadSection(path, sections, kArchiveExportSection), IsOkAndHolds(std::string()));
  EXPECT_TRUE(absl::IsNotFound(ReadSection(path, sections, 99).status()));
}

TEST(CheckpointFileTest, EveryTruncationIsRefused) {
  const std::string path = WriteSample(FreshDir("truncated"));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, common::ReadFileToString(path));
  for (size_t keep : {size_t{0}, size_t{7}, size_t{20}, size_t{30}, bytes.size() / 2,
                      bytes.size() - 4, bytes.size() - 1}) {
    GDAQD_ASSERT_OK(common::WriteFileDurably(path, bytes.substr(0, keep)));
    absl::Status status = VerifyCheckpointFile(path).status();
    EXPECT_TRUE(absl::IsDataLoss(status)) << "kept " << keep << ": " << status;
  }
}

TEST(CheckpointFileTest, EveryBitFlipIsRefused) {
  const std::string path = WriteSample(FreshDir("flip"));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, common::ReadFileToString(path));
  // Header, section table, payload middle, CRC.
  for (size_t at : {size_t{0}, size_t{9}, size_t{13}, size_t{22}, size_t{40}, bytes.size() / 2,
                    bytes.size() - 2}) {
    std::string flipped = bytes;
    flipped[at] ^= 0x10;
    GDAQD_ASSERT_OK(common::WriteFileDurably(path, flipped));
    absl::Status status = VerifyCheckpointFile(path).status();
    EXPECT_TRUE(absl::IsDataLoss(status)) << "flipped byte " << at << ": " << status;
  }
}

TEST(CheckpointFileTest, ForeignFilesAndVersionsAreNamed) {
  const std::string dir = FreshDir("foreign");
  GDAQD_ASSERT_OK(common::WriteFileDurably(dir + "/x", std::string(64, 'x')));
  EXPECT_THAT(std::string(VerifyCheckpointFile(dir + "/x").status().message()),
              HasSubstr("bad magic"));
  const std::string path = WriteSample(dir);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, common::ReadFileToString(path));
  bytes[8] = 7;  // format version 7
  GDAQD_ASSERT_OK(common::WriteFileDurably(path, bytes));
  EXPECT_THAT(std::string(VerifyCheckpointFile(path).status().message()),
              HasSubstr("format version 7"));
  EXPECT_TRUE(absl::IsNotFound(VerifyCheckpointFile(dir + "/missing").status()));
}

TEST(CheckpointFileTest, HookRunsMidWriteAndTheFinalPathAppearsOnlyAtTheEnd) {
  const std::string path = FreshDir("hook") + "/c.ckpt";
  bool called = false;
  GDAQD_ASSERT_OK(WriteCheckpointFile(path, {{kRecordSection, std::string(1000, 'r')}},
                                      [&](const std::string& tmp) {
                                        called = true;
                                        EXPECT_TRUE(std::filesystem::exists(tmp));
                                        EXPECT_FALSE(std::filesystem::exists(path));
                                      }));
  EXPECT_TRUE(called);
  GDAQD_EXPECT_OK(VerifyCheckpointFile(path).status());
}

}  // namespace
}  // namespace gdaqd::server::storage
