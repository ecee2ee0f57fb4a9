#include "server/archive/grid_archive.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "server/archive/archive.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {
namespace {

// Largest edge-snapping window, in cell widths, for grids so fine that kEdgeUlps float
// ulps exceed a sizeable fraction of a cell.
constexpr double kMaxEdgeSnap = 1e-3;

// Returns the number of cells of `spec`, or InvalidArgument naming the offending field.
absl::StatusOr<int64_t> ValidateGridShape(const GridSpec& spec) {
  if (spec.cells_per_dim.size() != spec.low.size()) {
    return absl::InvalidArgumentError(absl::StrCat("cells_per_dim has ", spec.cells_per_dim.size(),
                                                   " dims, low has ", spec.low.size()));
  }
  int64_t num_cells = 1;
  for (size_t i = 0; i < spec.cells_per_dim.size(); ++i) {
    if (spec.cells_per_dim[i] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("cells_per_dim[", i, "] = ", spec.cells_per_dim[i], "; need >= 1"));
    }
    num_cells *= spec.cells_per_dim[i];
    if (num_cells > kMaxArchiveCells) {
      return absl::InvalidArgumentError(
          absl::StrCat("cells_per_dim gives more than ", kMaxArchiveCells, " cells"));
    }
  }
  return num_cells;
}

// Cell centres, [num_cells, dim] row-major, last dimension fastest.
std::vector<float> GridCentres(const GridSpec& spec, int64_t num_cells) {
  const size_t dim = spec.low.size();
  std::vector<float> centroids(static_cast<size_t>(num_cells) * dim);
  for (int64_t cell = 0; cell < num_cells; ++cell) {
    int64_t rest = cell;
    for (size_t j = dim; j-- > 0;) {
      const int n = spec.cells_per_dim[j];
      const int64_t i = rest % n;
      rest /= n;
      const double width = (static_cast<double>(spec.high[j]) - spec.low[j]) / n;
      centroids[static_cast<size_t>(cell) * dim + j] =
          static_cast<float>(spec.low[j] + (static_cast<double>(i) + 0.5) * width);
    }
  }
  return centroids;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GridArchive>> GridArchive::Create(const GridSpec& spec) {
  GDAQD_RETURN_IF_ERROR(ValidateBox(spec.low, spec.high));
  GDAQD_ASSIGN_OR_RETURN(const int64_t num_cells, ValidateGridShape(spec));
  GDAQD_RETURN_IF_ERROR(ValidateStorage(num_cells, spec.num_params));
  return absl::WrapUnique(new GridArchive(spec, GridCentres(spec, num_cells)));
}

GridArchive::GridArchive(const GridSpec& spec, std::vector<float> centroids)
    : DenseArchive(spec.low, spec.high, std::move(centroids), spec.num_params),
      cells_per_dim_(spec.cells_per_dim) {}

std::unique_ptr<ArchiveInterface> GridArchive::Clone() const {
  return absl::WrapUnique(new GridArchive(*this));
}

int64_t GridArchive::MapToCell(absl::Span<const float> descriptor) const {
  const absl::Span<const float> low = descriptor_low();
  const absl::Span<const float> high = descriptor_high();
  int64_t cell = 0;
  for (size_t j = 0; j < descriptor.size(); ++j) {
    const int n = cells_per_dim_[j];
    const double lo = low[j];
    const double range = static_cast<double>(high[j]) - lo;
    // Position in cell widths; computed in double so only the float input carries error.
    double x = (descriptor[j] - lo) / range * n;
    const double tolerance =
        std::min(kMaxEdgeSnap,
                 kEdgeUlps * std::numeric_limits<float>::epsilon() *
                     std::max(std::fabs(lo), std::fabs(static_cast<double>(high[j]))) / range * n);
    const double nearest_edge = std::round(x);
    if (std::fabs(x - nearest_edge) <= tolerance) x = nearest_edge;
    const double i = std::clamp(std::floor(x), 0.0, static_cast<double>(n - 1));
    cell = cell * n + static_cast<int64_t>(i);
  }
  return cell;
}

}  // namespace gdaqd::server
