#include "server/storage/checkpoint_file.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// A section streamed in pieces of every size, around and across the 1 MiB blocks.
Section Streamed(uint32_t tag, const std::string& bytes, uint64_t declared) {
  return Section{
      .tag = tag, .length = declared, .writer = [&bytes](SectionSink sink) -> absl::Status {
        absl::string_view rest = bytes;
        for (size_t piece = 1; !rest.empty(); piece = piece * 3 + 1) {
          const size_t n = std::min(piece, rest.size());
          if (absl::Status status = sink(rest.substr(0, n)); !status.ok()) {
            return status;
          }
          rest.remove_prefix(n);
        }
        return absl::OkStatus();
      }};
}

std::string Big() {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  return big;
}

TEST(CheckpointFileTest, StreamedSectionsWriteTheSameFileAsBytes) {
  const std::string dir = FreshDir("streamed");
  const std::string big = Big();
  GDAQD_ASSERT_OK(WriteCheckpointFile(
      dir + "/bytes.ckpt",
      {{kRecordSection, "record"}, {kArchiveExportSection, big}, {kAlgorithmSection, ""}}));
  GDAQD_ASSERT_OK(
      WriteCheckpointFile(dir + "/streamed.ckpt", {{kRecordSection, "record"},
                                                   Streamed(kArchiveExportSection, big, big.size()),
                                                   {kAlgorithmSection, ""}}));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string expected, common::ReadFileToString(dir + "/bytes.ckpt"));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string actual, common::ReadFileToString(dir + "/streamed.ckpt"));
  EXPECT_TRUE(actual == expected);
  GDAQD_ASSERT_OK_AND_ASSIGN(auto sections, VerifyCheckpointFile(dir + "/streamed.ckpt"));
  EXPECT_THAT(ReadSection(dir + "/streamed.ckpt", sections, kArchiveExportSection),
              IsOkAndHolds(big));
}

TEST(CheckpointFileTest, StreamedSectionOfTheWrongLengthIsInternalAndWritesNothing) {
  const std::string dir = FreshDir("wrong_length");
  const std::string bytes(5000, 'e');
  for (uint64_t declared : {uint64_t{4999}, uint64_t{5001}}) {
    const absl::Status status = WriteCheckpointFile(
        dir + "/c.ckpt",
        {{kRecordSection, "record"}, Streamed(kArchiveExportSection, bytes, declared)});
    EXPECT_TRUE(absl::IsInternal(status)) << declared << ": " << status;
    EXPECT_FALSE(std::filesystem::exists(dir + "/c.ckpt"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/c.ckpt.tmp"));
  }
}

TEST(CheckpointFileTest, WriterErrorIsReturned) {
  const std::string dir = FreshDir("writer_error");
  Section failing{.tag = kArchiveExportSection, .length = 10, .writer = [](SectionSink sink) {
                    if (absl::Status status = sink("abc"); !status.ok()) return status;
                    return absl::DataLossError("archive vanished");
                  }};
  const absl::Status status = WriteCheckpointFile(dir + "/c.ckpt", {failing});
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_FALSE(std::filesystem::exists(dir + "/c.ckpt"));
}

// Kill tests rely on the hook: exactly the first half of the payload is on disk when it runs,
// however the sections arrive.
TEST(CheckpointFileTest, HookSeesExactlyHalfThePayloadOnDisk) {
  const std::string dir = FreshDir("hook_half");
  const std::string big = Big();
  constexpr uint64_t kHeaderBytes = 8 + 4 + 8;
  const uint64_t payload = 12 + 6 + 12 + big.size();
  for (bool streamed : {false, true}) {
    uint64_t on_disk = 0;
    std::vector<Section> sections = {{kRecordSection, "record"}};
    sections.push_back(streamed ? Streamed(kAlgorithmSection, big, big.size())
                                : Section{kAlgorithmSection, big});
    GDAQD_ASSERT_OK(WriteCheckpointFile(dir + "/c.ckpt", sections, [&](const std::string& tmp) {
      on_disk = std::filesystem::file_size(tmp);
    }));
    EXPECT_EQ(on_disk, kHeaderBytes + payload / 2) << "streamed " << streamed;
    GDAQD_EXPECT_OK(VerifyCheckpointFile(dir + "/c.ckpt").status());
  }
}

}  // namespace
}  // namespace gdaqd::server::storage
