// Fresh per-test directories under the test's TEMP dir, named after the test and the process.
#ifndef GDAQD_TESTS_TESTING_TEMP_DIR_H_
#define GDAQD_TESTS_TESTING_TEMP_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gdaqd::testing {

namespace temp_dir_internal {

// The directories FreshTempDir() handed out in this process; removed when the process exits
// normally after every test passed, kept (for the failure's logs) otherwise. Function-local
// static, so it is destroyed before gtest's UnitTest singleton, which exists from the first test
// registration on.
class Registry {
 public:
  static Registry& Get() {
    static Registry registry;
    return registry;
  }
  void Add(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.insert(dir);
  }
  ~Registry() {
    if (!::testing::UnitTest::GetInstance()->Passed()) return;
    for (const std::string& dir : dirs_) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }

 private:
  std::mutex mu_;
  std::set<std::string> dirs_;
};

}  // namespace temp_dir_internal

// Returns "<TempDir>/gdaqd_<name>_<pid>", emptied and created (created = false leaves it absent,
// for code that must create it itself). Removed at exit if every test of the process passed.
inline std::string FreshTempDir(const std::string& name, bool created = true) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gdaqd_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  if (created) std::filesystem::create_directories(dir);
  temp_dir_internal::Registry::Get().Add(dir);
  return dir;
}

}  // namespace gdaqd::testing

#endif  // GDAQD_TESTS_TESTING_TEMP_DIR_H_
