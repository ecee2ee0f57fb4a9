// Status propagation macros (STYLE.md §6). Debian's abseil (20220623) has no
// ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN; switch to those once it does.
#ifndef GDAQD_COMMON_STATUS_MACROS_H_
#define GDAQD_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if not OK.
#define GDAQD_RETURN_IF_ERROR(expr)                \
  do {                                             \
    const ::absl::Status gdaqd_status_ = (expr);   \
    if (!gdaqd_status_.ok()) return gdaqd_status_; \
  } while (false)

#define GDAQD_STATUS_CONCAT_INNER_(a, b) a##b
#define GDAQD_STATUS_CONCAT_(a, b) GDAQD_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, otherwise moves the
// value into `lhs` (which may be a declaration, e.g. `std::string text`).
#define GDAQD_ASSIGN_OR_RETURN(lhs, rexpr) \
  GDAQD_ASSIGN_OR_RETURN_IMPL_(GDAQD_STATUS_CONCAT_(gdaqd_statusor_, __LINE__), lhs, rexpr)

#define GDAQD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // GDAQD_COMMON_STATUS_MACROS_H_
