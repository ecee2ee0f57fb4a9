// Fresh per-test directories under the test's TEMP dir, named after the test and the process.
#ifndef GDAQD_TESTS_TESTING_TEMP_DIR_H_
#define GDAQD_TESTS_TESTING_TEMP_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gdaqd::testing {

// Returns "<TempDir>/gdaqd_<name>_<pid>", emptied and created (created = false leaves it absent,
// for code that must create it itself).
inline std::string FreshTempDir(const std::string& name, bool created = true) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gdaqd_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  if (created) std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace gdaqd::testing

#endif  // GDAQD_TESTS_TESTING_TEMP_DIR_H_
