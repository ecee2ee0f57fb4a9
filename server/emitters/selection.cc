#include "server/emitters/selection.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {

absl::StatusOr<std::vector<int64_t>> SelectUniform(const ArchiveInterface& archive, int64_t n,
                                                   std::mt19937_64& rng) {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("n = ", n, "; need >= 0"));
  const std::vector<int64_t> filled = archive.filled_cells();
  if (filled.empty()) return absl::FailedPreconditionError("cannot select from an empty archive");
  std::uniform_int_distribution<size_t> pick(0, filled.size() - 1);
  std::vector<int64_t> selected(static_cast<size_t>(n));
  for (int64_t& cell : selected) cell = filled[pick(rng)];
  return selected;
}

}  // namespace gdaqd::server
