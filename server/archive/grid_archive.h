// GridArchive: MAP-Elites archive over a regular grid of the descriptor box.
#ifndef GDAQD_SERVER_ARCHIVE_GRID_ARCHIVE_H_
#define GDAQD_SERVER_ARCHIVE_GRID_ARCHIVE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/archive/archive.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {

// Shape of a grid archive. All vectors have one entry per descriptor dimension.
struct GridSpec {
  std::vector<float> low;          // lower bound of the box per dimension
  std::vector<float> high;         // upper bound, high[i] > low[i]
  std::vector<int> cells_per_dim;  // >= 1 each; product <= kMaxArchiveCells
  int64_t num_params = 0;          // flat policy parameters per elite, >= 1
};

// Fixed-resolution MAP-Elites archive: dimension i is cut into cells_per_dim[i] equal
// intervals. Per dimension the cell is floor((d - low) / (high - low) * n) clamped to
// [0, n - 1], so d <= low maps to 0, d >= high to n - 1, and an exact cell edge belongs to
// the upper cell. Cells are flattened row-major with the LAST dimension fastest
// (cell = i0 * n1 + i1 in 2-D); centroids are cell centres.
//
// Float rounding: a descriptor within kEdgeUlps float ulps (of max(|low|, |high|)) of an
// interior edge counts as lying on it, so a float such as -1 + 2 * k / 50 always lands in
// cell k even when rounding leaves it a hair below the exact edge (the sferes2 quirk).
//
// Owns its storage. Thread-compatible (see ArchiveInterface).
class GridArchive final : public DenseArchive {
 public:
  static constexpr double kEdgeUlps = 4.0;

  // Returns InvalidArgument naming the field if low/high/cells_per_dim sizes differ or are
  // empty, any cells_per_dim < 1, low >= high or non-finite, num_params < 1, the total
  // number of cells exceeds kMaxArchiveCells, or params storage exceeds
  // kMaxArchiveParamFloats.
  static absl::StatusOr<std::unique_ptr<GridArchive>> Create(const GridSpec& spec);

  // Cells per dimension, [descriptor_dim].
  absl::Span<const int> cells_per_dim() const { return cells_per_dim_; }

  std::unique_ptr<ArchiveInterface> Clone() const override;

 private:
  GridArchive(const GridSpec& spec, std::vector<float> centroids);
  GridArchive(const GridArchive&) = default;

  int64_t MapToCell(absl::Span<const float> descriptor) const override;

  std::vector<int> cells_per_dim_;  // [dim], >= 1 each
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ARCHIVE_GRID_ARCHIVE_H_
