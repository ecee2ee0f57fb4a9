#include "common/durable_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::IsOkAndHolds;

std::string FreshDir(const std::string& name) {
  return ::gdaqd::testing::FreshTempDir("durable_" + name);
}

TEST(DurableFileTest, CommitReplacesTheFileAndLeavesNoTemporary) {
  const std::string dir = FreshDir("commit");
  const std::string path = dir + "/f";
  GDAQD_ASSERT_OK(WriteFileDurably(path, "old"));
  GDAQD_ASSERT_OK_AND_ASSIGN(DurableFileWriter writer, DurableFileWriter::Open(path));
  GDAQD_ASSERT_OK(writer.Append("ne"));
  GDAQD_ASSERT_OK(writer.Append("w"));
  // Until Commit() readers still see the old contents.
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("old")));
  GDAQD_ASSERT_OK(writer.Commit());
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("new")));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(DurableFileTest, AbandonedWriterRemovesTemporaryAndKeepsOldFile) {
  const std::string dir = FreshDir("abandon");
  const std::string path = dir + "/f";
  GDAQD_ASSERT_OK(WriteFileDurably(path, "old"));
  {
    GDAQD_ASSERT_OK_AND_ASSIGN(DurableFileWriter writer, DurableFileWriter::Open(path));
    GDAQD_ASSERT_OK(writer.Append("half"));
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("old")));
}

TEST(DurableFileTest, ErrorsNameThePath) {
  const std::string missing = FreshDir("missing") + "/no/such/dir/f";
  absl::Status status = WriteFileDurably(missing, "x");
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("no/such/dir/f.tmp"));
  EXPECT_TRUE(absl::IsNotFound(ReadFileToString(missing).status()));
}

TEST(DurableFileTest, ReadRefusesFilesOverTheLimit) {
  const std::string path = FreshDir("limit") + "/f";
  GDAQD_ASSERT_OK(WriteFileDurably(path, std::string(1000, 'x')));
  EXPECT_TRUE(absl::IsFailedPrecondition(ReadFileToString(path, 999).status()));
  EXPECT_THAT(ReadFileToString(path, 1000), IsOkAndHolds(std::string(1000, 'x')));
}

}  // namespace
}  // namespace gdaqd::common
