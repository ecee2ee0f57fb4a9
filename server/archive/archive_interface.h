// ArchiveInterface: the MAP-Elites repertoire seen by algorithms, emitters and metrics.
// Implementations: GridArchive (grid_archive.h) and CvtArchive (cvt_archive.h), both on the
// shared DenseArchive storage (archive.h). Semantics follow QDax's MapElitesRepertoire
// (research/algorithms.md §1.1), plus per-offspring insert statuses as in pyribs (§4).
#ifndef GDAQD_SERVER_ARCHIVE_ARCHIVE_INTERFACE_H_
#define GDAQD_SERVER_ARCHIVE_ARCHIVE_INTERFACE_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::server {

// Result of offering one candidate to the archive. Values are stable (exported in stats).
enum class InsertStatus { kNotAdded = 0, kNew = 1, kImproved = 2 };

struct InsertOutcome {
  InsertStatus status = InsertStatus::kNotAdded;
  // Cell the descriptor maps to (always set, also for kNotAdded).
  int64_t cell = -1;
  // Incumbent's fitness before the insert (before the whole batch for InsertBatch);
  // -inf if the cell was empty.
  float previous_fitness = -std::numeric_limits<float>::infinity();
};

// Read-only view of one elite. The spans point into the archive's storage and are valid
// until the next mutation (Insert, InsertBatch, Clear) or destruction of the archive.
struct EliteView {
  int64_t cell;
  float fitness;
  absl::Span<const float> descriptor;  // [descriptor_dim], the elite's actual descriptor
  absl::Span<const float> params;      // [num_params], flat policy parameters
};

// A fixed set of cells in a box-bounded descriptor space, each holding at most one elite.
// Every cell has a centroid; cell indices are dense in [0, num_cells()).
//
// Thread-compatible: const methods may run concurrently; mutations (Insert, InsertBatch,
// Clear) need external synchronisation (the Coordinator holds the lock).
class ArchiveInterface {
 public:
  virtual ~ArchiveInterface() = default;

  // Shape, fixed at construction.
  virtual int64_t num_cells() const = 0;
  virtual int descriptor_dim() const = 0;
  virtual int64_t num_params() const = 0;
  // Number of non-empty cells, in [0, num_cells()].
  virtual int64_t num_filled() const = 0;
  // Descriptor box, [descriptor_dim] each, low[i] < high[i].
  virtual absl::Span<const float> descriptor_low() const = 0;
  virtual absl::Span<const float> descriptor_high() const = 0;

  // Centroid of `cell`, [descriptor_dim]; valid for the archive's lifetime.
  // Precondition: 0 <= cell < num_cells().
  virtual absl::Span<const float> centroid(int64_t cell) const = 0;

  // Maps a descriptor to its cell. Out-of-range values snap to the nearest edge cell
  // (QDax semantics). Returns InvalidArgument if the size is not descriptor_dim() or any
  // value is NaN/inf (the message names the dimension and the value).
  virtual absl::StatusOr<int64_t> CellIndex(absl::Span<const float> descriptor) const = 0;

  // Inserts the candidate iff its cell is empty or `fitness` is strictly greater than the
  // incumbent's. Returns InvalidArgument, leaving the archive unchanged, if the descriptor
  // has the wrong size or a non-finite value, `fitness` is NaN/inf, or `params` does not
  // have num_params() values.
  virtual absl::StatusOr<InsertOutcome> Insert(absl::Span<const float> descriptor, float fitness,
                                               absl::Span<const float> params) = 0;

  // QDax batched rule: per cell only the batch maximum competes (ties: first in batch
  // wins), then it must be strictly greater than the incumbent. Losers inside the batch
  // get kNotAdded; every outcome's previous_fitness is the incumbent before the batch.
  // descriptors: [n, descriptor_dim] row-major; fitnesses: [n]; params: [n, num_params]
  // row-major. Validates the whole batch first: returns InvalidArgument naming the bad row
  // (or the mismatched array sizes), leaving the archive unchanged. Returns one outcome
  // per row, in row order; n == 0 is allowed.
  virtual absl::StatusOr<std::vector<InsertOutcome>> InsertBatch(
      absl::Span<const float> descriptors, absl::Span<const float> fitnesses,
      absl::Span<const float> params) = 0;

  // True iff `cell` holds an elite; false for out-of-range cells.
  virtual bool is_filled(int64_t cell) const = 0;
  // The elite in `cell`; nullopt if the cell is empty or out of range.
  virtual std::optional<EliteView> elite(int64_t cell) const = 0;
  // Indices of all filled cells, ascending. O(num_cells()).
  virtual std::vector<int64_t> filled_cells() const = 0;

  // Deep copy (same cells, centroids and elites) that shares nothing with this archive,
  // e.g. the imagined archive of model-based QD.
  virtual std::unique_ptr<ArchiveInterface> Clone() const = 0;
  // Empties every cell; shape and centroids are kept.
  virtual void Clear() = 0;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ARCHIVE_ARCHIVE_INTERFACE_H_
