// QD metrics of an archive, with QDax's formulas (research/algorithms.md §1.3).
#ifndef GDAQD_SERVER_ARCHIVE_QD_METRICS_H_
#define GDAQD_SERVER_ARCHIVE_QD_METRICS_H_

#include <cstdint>

#include "server/archive/archive_interface.h"

namespace gdaqd::server {

struct QdMetrics {
  int64_t num_filled = 0;
  double coverage_pct = 0.0;  // 100 * num_filled / num_cells (a percentage, as in QDax)
  double qd_score = 0.0;      // sum over filled cells of (fitness + qd_offset)
  double qd_score_pct = 0.0;  // qd_score / (num_cells * qd_offset) * 100; 0 if qd_offset == 0
  double max_fitness = 0.0;   // best elite fitness; -inf when the archive is empty
};

// Computes the metrics of `archive`. qd_offset = per-step reward offset x episode length,
// ADDED to every filled cell's fitness (QDax convention; pyribs subtracts its offset), so
// that an elite with the worst possible return contributes >= 0. O(num_cells).
QdMetrics ComputeQdMetrics(const ArchiveInterface& archive, double qd_offset);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ARCHIVE_QD_METRICS_H_
