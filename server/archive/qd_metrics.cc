#include "server/archive/qd_metrics.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>

#include "server/archive/archive_interface.h"

namespace gdaqd::server {

QdMetrics ComputeQdMetrics(const ArchiveInterface& archive, double qd_offset) {
  QdMetrics metrics;
  metrics.max_fitness = -std::numeric_limits<double>::infinity();
  for (const int64_t cell : archive.filled_cells()) {
    const double fitness = archive.elite(cell)->fitness;
    metrics.qd_score += fitness + qd_offset;
    metrics.max_fitness = std::max(metrics.max_fitness, fitness);
    ++metrics.num_filled;
  }
  const auto num_cells = static_cast<double>(archive.num_cells());
  metrics.coverage_pct = 100.0 * static_cast<double>(metrics.num_filled) / num_cells;
  if (qd_offset != 0.0) metrics.qd_score_pct = metrics.qd_score / (num_cells * qd_offset) * 100.0;
  return metrics;
}

}  // namespace gdaqd::server
