// Test-only helper for the gdaqd_results tests: file paths inside a scratch directory that
// belongs to the running test binary and is deleted when it exits, so repeated runs leave
// nothing behind in $TEST_TMPDIR / /tmp. Not thread-safe; tests use it from one thread.
#ifndef GDAQD_CLIENT_RESULTS_SCRATCH_DIR_FOR_TEST_H_
#define GDAQD_CLIENT_RESULTS_SCRATCH_DIR_FOR_TEST_H_

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gdaqd::client::results_testing {

// Returns the binary's scratch directory, creating it on first use (mkdtemp, so parallel
// test processes never share one).
inline const std::string& ScratchDir() {
  static const std::string* const dir = [] {
    std::string path = absl::StrCat(::testing::TempDir(), "/gdaqd_results_test_XXXXXX");
    if (::mkdtemp(path.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << path;
    }
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return new std::string(path);
  }();
  return *dir;
}

// Returns a path for `file` unique to the running test.
inline std::string TempPath(const std::string& file) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat(ScratchDir(), "/", info->test_suite_name(), ".", info->name(), ".", file);
}

}  // namespace gdaqd::client::results_testing

#endif  // GDAQD_CLIENT_RESULTS_SCRATCH_DIR_FOR_TEST_H_
