// The one-line progress display of `gdaqd run` and `gdaqd watch`.
#ifndef GDAQD_CLIENT_PROGRESS_H_
#define GDAQD_CLIENT_PROGRESS_H_

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gdaqd/v1/coordinator.pb.h"

namespace gdaqd::client {

// "[########------------]  40% it 400 | evals 40,000/100,000 | QD 31.2% | cov 52.1% |
//  max -12.34 | 8,200 ev/s | 2 workers | elapsed 3m05s | ETA 4m38s", then the learned models'
// metrics the algorithm reports (by name): " | imagined 12,800 | model nll -1.23 | critic 0.5"
std::string FormatProgress(const gdaqd::v1::ExperimentStatus& status, int bar_width);

// The value of the algorithm's progress metric `name` (docs/metrics.md) in `snapshot`: from
// snapshot.metrics(); for a snapshot of a server older than named metrics (no metrics at all),
// from its deprecated fixed field of that name when there is one (imagined_evaluations,
// model_holdout_loss, model_holdout_mse, critic_loss, imagination_seconds, training_seconds,
// gradient_seconds, model_train_calls); else nullopt.
std::optional<double> ProgressMetric(const gdaqd::v1::ProgressSnapshot& snapshot,
                                     absl::string_view name);

// The budget an experiment is closest to spending: evaluations against budget.max_evaluations,
// or, when budget.max_env_steps is set (the RL methods), environment steps (the `env_steps`
// metric) against it, whichever is the larger fraction. `unit` is "evals" or "steps"; budget >= 1.
struct BudgetUse {
  const char* unit = "evals";
  int64_t used = 0;
  int64_t budget = 1;
  double fraction() const;  // used / budget, clamped to [0, 1]
};
BudgetUse SpentBudget(const gdaqd::v1::ExperimentStatus& status);

// Seconds as "42s", "3m05s", "2h07m", "3d04h"; "-" for a negative or non-finite value.
std::string FormatDuration(double seconds);

// Seconds until SpentBudget()'s budget is spent at the average rate so far (wall_seconds over
// what was used); -1 unless RUNNING with something used and budget left.
double EtaSeconds(const gdaqd::v1::ExperimentStatus& status);

// `gdaqd status`: a header line, then one row per experiment with columns ID, NAME, ALGORITHM,
// TASK, STATE, PROGRESS (SpentBudget(): used/budget, percent, and " steps" for a step budget),
// ELAPSED, ETA; a FAILED experiment's
// error follows its row, indented. Columns are as wide as their widest cell.
std::string FormatStatusTable(const std::vector<gdaqd::v1::ExperimentStatus>& experiments);

// Redraws one line in place on a terminal; elsewhere (logs, CI) prints a new line at most
// every 10 % of the budget or 30 s, and always the final state. Thread-safe: Note() may be
// called from another thread than Update().
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::FILE* out);
  void Update(const gdaqd::v1::ExperimentStatus& status) ABSL_LOCKS_EXCLUDED(mu_);
  // Prints `text` on a line of its own (clearing and then redrawing the progress line on a
  // terminal), flushed at once.
  void Note(const std::string& text) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the line after the last update.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::FILE* const out_;
  const bool tty_;
  absl::Mutex mu_;
  int last_decile_ ABSL_GUARDED_BY(mu_) = -1;
  double last_print_s_ ABSL_GUARDED_BY(mu_) = -1e9;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_line_ ABSL_GUARDED_BY(mu_);  // redrawn after a Note() on a terminal
};

// Thousands separators: 12345 -> "12,345".
std::string WithThousands(int64_t value);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_PROGRESS_H_
