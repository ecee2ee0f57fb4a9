// `gdaqd compare`: many runs' metrics.csv grouped by task and algorithm, summarised as in the
// GDA-QD paper's Table 1 (median and quartiles over seeds of the final QD-score %, coverage %
// and max fitness) and Figure 4 (median curves with an inter-quartile band against
// evaluations). Pure functions over plain structs (this library does not read protos); every
// function is thread-safe.
#ifndef GDAQD_CLIENT_RESULTS_COMPARISON_H_
#define GDAQD_CLIENT_RESULTS_COMPARISON_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/results/csv.h"

namespace gdaqd::client {

// One run (one seed) of a comparison.
struct ComparedRun {
  std::string task;                 // group key, e.g. "point_maze"
  std::string algorithm;            // group key, e.g. "MAP_ELITES"
  std::string name;                 // where it came from (a results folder), for messages
  std::vector<MetricsRow> metrics;  // ascending evaluations
};

// The `q` quantile (0..1) of the finite `values`, linearly interpolated between order
// statistics (numpy's default); NaN if there is no finite value.
double Quantile(std::vector<double> values, double q);

// Median and quartiles over runs of one metric, at every evaluation count that all runs logged.
struct Curve {
  std::vector<double> x, median, q1, q3;
};
Curve AggregateCurve(absl::Span<const ComparedRun* const> runs, double MetricsRow::*metric);

// One row of Table 1: a (task, algorithm) group at the last evaluation count all its runs share.
struct GroupSummary {
  std::string task, algorithm;
  int runs = 0;
  double evaluations = 0;
  Curve qd_score_pct, coverage_pct, max_fitness;  // the curves the figure draws
  double qd_median = 0, qd_q1 = 0, qd_q3 = 0;     // final values of the curves
  double coverage_median = 0, coverage_q1 = 0, coverage_q3 = 0;
  double max_fitness_median = 0, max_fitness_q1 = 0, max_fitness_q3 = 0;
  // First evaluation count at which the median QD-score % reaches MAP_ELITES' final median on
  // the same task; NaN if never, or if the task has no MAP_ELITES group.
  double evaluations_to_me_final_qd = 0;
  // Medians over runs of their last metrics row.
  double imagined_median = 0, wall_seconds_median = 0;
  double evaluation_share = 0, imagination_share = 0, training_share = 0, gradient_share = 0;
};

// Groups `runs` by (task, algorithm), in order of first appearance. InvalidArgument naming
// the run if one has no metrics rows, or naming the group if its runs share no evaluation
// count.
absl::StatusOr<std::vector<GroupSummary>> Summarize(absl::Span<const ComparedRun> runs);

// table1.csv: a header, then one line per group (the columns of bench_reproduce's table1.csv;
// "-" for a value that is not finite).
std::string SummaryCsv(absl::Span<const GroupSummary> groups);
// table1.md: the same as a Markdown table, rounded for reading.
std::string SummaryMarkdown(absl::Span<const GroupSummary> groups);

// Writes table1.csv, table1.md and progress_<task>.svg (percentages from 0 at 0 evaluations on
// axes from 0, max fitness as a staircase) (characters other than letters, digits,
// "_" and "-" of the task replaced by "_") (QD-score %, coverage % and max fitness:
// median line and inter-quartile band per algorithm) into `out_dir` (created if missing),
// replacing files of those names. Summarize's errors; errno-derived codes for the files.
absl::Status WriteComparison(const std::string& out_dir, absl::Span<const ComparedRun> runs);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_RESULTS_COMPARISON_H_
