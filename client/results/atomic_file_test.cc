#include "client/results/atomic_file.h"

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/results/scratch_dir_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

using ::gdaqd::client::results_testing::TempPath;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

TEST(AtomicFileTest, WritesAndReadsBack) {
  const std::string path = TempPath("a.txt");
  GDAQD_ASSERT_OK(WriteFileAtomically(path, std::string_view("hello\0world", 11)));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("hello\0world", 11)));
}

TEST(AtomicFileTest, ConcatenatesPieces) {
  const std::string path = TempPath("pieces.txt");
  const std::string_view pieces[] = {"ab", "", "cd"};
  GDAQD_ASSERT_OK(WriteFileAtomically(path, absl::MakeConstSpan(pieces)));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("abcd")));
}

TEST(AtomicFileTest, ReplacesAnExistingFileAndLeavesNoTemporary) {
  const std::string path = TempPath("b.txt");
  GDAQD_ASSERT_OK(WriteFileAtomically(path, "a much longer first version"));
  GDAQD_ASSERT_OK(WriteFileAtomically(path, "v2"));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("v2")));
  EXPECT_FALSE(Exists(path + ".tmp"));
}

TEST(AtomicFileTest, WriteIntoMissingDirectoryFailsAndLeavesNothing) {
  const std::string path = TempPath("no_such_dir/c.txt");
  EXPECT_THAT(WriteFileAtomically(path, "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_such_dir/c.txt.tmp")));
  EXPECT_FALSE(Exists(path));
}

TEST(AtomicFileTest, FailedRenameRemovesTemporaryAndKeepsTarget) {
  // Renaming a file over a non-empty directory fails after the temporary is written.
  const std::string dir = TempPath("target_dir");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir + "/child").c_str(), 0755), 0);
  EXPECT_THAT(WriteFileAtomically(dir, "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot rename")));
  EXPECT_FALSE(Exists(dir + ".tmp"));
  EXPECT_TRUE(Exists(dir + "/child"));
}

TEST(AtomicFileTest, ReadMissingFileIsNotFound) {
  EXPECT_THAT(ReadFileToString(TempPath("missing")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

TEST(AtomicFileTest, ReadDirectoryIsFailedPrecondition) {
  EXPECT_THAT(ReadFileToString(::testing::TempDir()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("directory")));
}

TEST(AtomicFileTest, ReadsEmptyFile) {
  const std::string path = TempPath("empty");
  GDAQD_ASSERT_OK(WriteFileAtomically(path, ""));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string()));
}

}  // namespace
}  // namespace gdaqd::client
