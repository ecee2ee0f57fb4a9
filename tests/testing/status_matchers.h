// gmock matchers and assertion macros for absl::Status / absl::StatusOr (STYLE.md §9).
#ifndef GDAQD_TESTS_TESTING_STATUS_MATCHERS_H_
#define GDAQD_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK Status or StatusOr.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = ::gdaqd::testing::GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

// Matches a non-OK Status/StatusOr with `code` whose message matches `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& status = ::gdaqd::testing::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

// Matches an OK StatusOr whose value matches `inner`.
MATCHER_P(IsOkAndHolds, inner, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(inner, *arg, result_listener);
}

}  // namespace gdaqd::testing

#define GDAQD_EXPECT_OK(expr) EXPECT_THAT((expr), ::gdaqd::testing::IsOk())
#define GDAQD_ASSERT_OK(expr) ASSERT_THAT((expr), ::gdaqd::testing::IsOk())

#define GDAQD_TESTING_CONCAT_INNER_(a, b) a##b
#define GDAQD_TESTING_CONCAT_(a, b) GDAQD_TESTING_CONCAT_INNER_(a, b)
#define GDAQD_ASSERT_OK_AND_ASSIGN(lhs, rexpr)                       \
  auto GDAQD_TESTING_CONCAT_(gdaqd_statusor_, __LINE__) = (rexpr);   \
  ASSERT_TRUE(GDAQD_TESTING_CONCAT_(gdaqd_statusor_, __LINE__).ok()) \
      << GDAQD_TESTING_CONCAT_(gdaqd_statusor_, __LINE__).status();  \
  lhs = std::move(GDAQD_TESTING_CONCAT_(gdaqd_statusor_, __LINE__)).value()

#endif  // GDAQD_TESTS_TESTING_STATUS_MATCHERS_H_
