// CSV tables of a run for pandas / spreadsheets: the progress metrics (one row per logged
// iteration) and the archive contents (one row per filled cell).
//
// Numbers are written so that reading them back gives bit-identical values: doubles with
// %.17g, floats with %.9g. Non-finite values are written as "inf", "-inf" and "nan" (the
// spellings pandas.read_csv and numpy accept); max_fitness is -inf while the archive is
// empty. Fields are never quoted, since every field is a number.
#ifndef GDAQD_CLIENT_RESULTS_CSV_H_
#define GDAQD_CLIENT_RESULTS_CSV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gdaqd::client {

// A named progress metric of a metrics.csv row beyond its fixed columns (ProgressSnapshot.metrics
// not among the learned-model columns below). Plain data.
struct ExtraMetric {
  std::string name;  // snake_case, [a-z][a-z0-9_]*, not a fixed column's name
  double value;      // NaN for a row that lacks it
};

// One line of metrics.csv.
struct MetricsRow {
  int64_t iteration;    // algorithm iterations (generations) completed
  int64_t evaluations;  // environment evaluations completed, real rollouts only
  double qd_score;      // sum over filled cells of (fitness - min_fitness offset)
  double qd_score_pct;  // qd_score as a percentage of its maximum for the task, 0..100
  double coverage_pct;  // filled cells / total cells, 0..100
  double max_fitness;   // best fitness in the archive; -inf while it is empty
  double wall_seconds;  // seconds since the run started
  // Learned models: the named metrics of these names (0 for counts and seconds, NaN for losses,
  // where the algorithm does not report them); evaluation_seconds is the experiment's own.
  int64_t imagined_evaluations = 0;  // episodes rolled out in the dynamics model so far
  double model_holdout_loss = 0;     // last training's holdout Gaussian NLL (normalised units)
  double model_holdout_mse = 0;      // last training's next-observation MSE (real units)
  double critic_loss = 0;            // last generation's mean TD3 critic loss
  double evaluation_seconds = 0;     // cumulative: waiting for real evaluations
  double imagination_seconds = 0;    // cumulative: imagined rollouts and insertions
  double training_seconds = 0;       // cumulative: dynamics-model and critic training
  double gradient_seconds = 0;       // cumulative: policy-gradient children
  // The algorithm's other named metrics, one column each after gradient_seconds (see
  // WriteMetricsCsv); a new metric of an algorithm lands here with no code of its own.
  std::vector<ExtraMetric> extra = {};
};

// True if `name` is one of metrics.csv's fifteen fixed columns (and so not an extra one).
bool IsFixedMetricsColumn(absl::string_view name);

// The value of metric `name` in `row`: a learned-model column (imagined_evaluations ...
// gradient_seconds) or one of row.extra; nullopt if it has none of that name.
std::optional<double> FindMetric(const MetricsRow& row, absl::string_view name);

// Writes `rows` under the header
//   iteration,evaluations,qd_score,qd_score_pct,coverage_pct,max_fitness,wall_seconds,
//   imagined_evaluations,model_holdout_loss,model_holdout_mse,critic_loss,evaluation_seconds,
//   imagination_seconds,training_seconds,gradient_seconds[,<extra metric names>]
// atomically (see atomic_file.h). These fifteen columns are fixed (results folders and the
// study's tooling read them); then one column per name of the rows' `extra`, in order of first
// appearance (rows: in order; within a row: in its order), "nan" in rows that lack it. Returns
// InvalidArgument (nothing written) if an extra name is not snake_case, names a fixed column or
// repeats within a row, or an errno-derived code if the file cannot be written.
absl::Status WriteMetricsCsv(const std::string& path, absl::Span<const MetricsRow> rows);

// Reads a file written by WriteMetricsCsv() (also files from before extra columns, which have
// the fifteen fixed ones only); every row gets every extra column in `extra`, in column order.
// Accepts "\r\n" line ends and a missing final newline. Returns NotFound if `path` does not
// exist, and InvalidArgument naming the line (1-based, the header is line 1) and the column
// (1-based, with its name) for a wrong header (fixed columns missing or out of order, an extra
// name that is not snake_case or repeats), a wrong number of fields, or a field that is not a
// number of the column's type.
absl::StatusOr<std::vector<MetricsRow>> ReadMetricsCsv(const std::string& path);

// One line of archive.csv: a filled cell and its elite.
struct ArchiveRow {
  int64_t cell;                   // cell index in the archive
  std::vector<float> centroid;    // [descriptor_dim], the cell's centre / CVT centroid
  std::vector<float> descriptor;  // [descriptor_dim], the elite's behaviour descriptor
  float fitness;                  // the elite's fitness
};

// Writes `rows` under the header
//   cell,centroid_0,...,centroid_{D-1},descriptor_0,...,descriptor_{D-1},fitness
// with D = descriptor_dim, atomically. Returns InvalidArgument if descriptor_dim < 1 or a
// row's centroid or descriptor does not have descriptor_dim values (nothing is written
// then), or an errno-derived code if the file cannot be written.
absl::Status WriteArchiveCsv(const std::string& path, int descriptor_dim,
                             absl::Span<const ArchiveRow> rows);

// Reads a file written by WriteArchiveCsv(); D is taken from the header. Returns NotFound
// if `path` does not exist, and InvalidArgument naming the line and column for a malformed
// header, a wrong number of fields, or a field that does not parse.
absl::StatusOr<std::vector<ArchiveRow>> ReadArchiveCsv(const std::string& path);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_RESULTS_CSV_H_
