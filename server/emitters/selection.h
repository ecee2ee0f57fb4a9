// Parent selection from a MAP-Elites archive.
#ifndef GDAQD_SERVER_EMITTERS_SELECTION_H_
#define GDAQD_SERVER_EMITTERS_SELECTION_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {

// Draws `n` filled cells uniformly, with replacement (probability 1 / num_filled each), like
// QDax's UniformSelector. Consumes randomness only from `rng`, so a fixed seed gives a fixed
// sequence (with the same standard library). Reads `archive` only; the caller keeps both
// `archive` and `rng` alive and unshared for the call. O(num_cells + n).
// Returns InvalidArgument if n < 0, FailedPrecondition if the archive is empty.
absl::StatusOr<std::vector<int64_t>> SelectUniform(const ArchiveInterface& archive, int64_t n,
                                                   std::mt19937_64& rng);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_EMITTERS_SELECTION_H_
