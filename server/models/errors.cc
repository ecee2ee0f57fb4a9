#include "server/models/errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gdaqd::server::models {
namespace {

constexpr absl::string_view kNonFiniteLoss = " loss became non-finite (";

}  // namespace

absl::Status InterruptedError(absl::string_view what) {
  return absl::CancelledError(absl::StrCat(what, " interrupted"));
}

absl::Status NonFiniteLossError(absl::string_view loss, double value, absl::string_view where) {
  // StrCat prints "nan" / "inf" / "-inf" for the non-finite doubles.
  return absl::InternalError(absl::StrCat(loss, kNonFiniteLoss, value, ") ", where));
}

bool IsNonFiniteLoss(const absl::Status& status) {
  return absl::IsInternal(status) && absl::StrContains(status.message(), kNonFiniteLoss);
}

absl::Status OutOfMemoryError(absl::string_view what, absl::string_view detail) {
  if (detail.empty())
    return absl::ResourceExhaustedError(absl::StrCat("out of memory while ", what));
  return absl::ResourceExhaustedError(absl::StrCat("out of memory while ", what, ": ", detail));
}

}  // namespace gdaqd::server::models
