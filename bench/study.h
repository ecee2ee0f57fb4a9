// The reproduction study's runs, their configs, and the report built from whichever of them have
// finished (docs/reproduction/protocol.md). bench/reproduce.cc runs the grid; this file is what
// it shares with its test: no processes, no RPCs.
//
// Functions are thread-compatible: they touch only their arguments and the files named.
#ifndef GDAQD_BENCH_STUDY_H_
#define GDAQD_BENCH_STUDY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/results/csv.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::bench {

// One cell of the grid: a task, an algorithm, a seed, and for a schedule arm its learning
// schedule.
struct StudyRun {
  std::string task;       // e.g. "ant_trap"
  std::string algorithm;  // an Algorithm enum name, e.g. "GDA_QD"
  // Empty for the main grid; else a SchedulerConfig.LearningSchedule name ("PIPELINED") that the
  // run sets and that makes its name and group distinct.
  std::string schedule;
  int64_t seed = 0;
  int64_t budget = 0;  // real evaluations
  std::string dir;     // its results folder, <out>/runs/<name>

  // Filled by LoadFinishedRun(): the run's history and the commit(s) it ran at ("" unknown).
  bool finished = false;
  std::vector<client::MetricsRow> metrics;
  std::string commit;
};

// "<task>_<algorithm>[_<schedule>]_s<seed>" in lower case, e.g. "ant_trap_gda_qd_pipelined_s0".
// Also the experiment's `name` on the coordinator, by which a restarted runner finds it.
std::string RunName(const StudyRun& run);

// The group a run is aggregated in: its algorithm, or "<algorithm>_<schedule>" for an arm.
std::string GroupLabel(const StudyRun& run);

// The run's config: name, algorithm, seed, env.task, budget.max_evaluations and the arm's
// scheduler.learning_schedule, then `extra` (text format) merged in as a message of its own, so
// it may set fields inside sections already present (e.g. "env { action_map: CLIP_1_DIVIDE_10 }"),
// a later value winning; then ApplyDefaults and ValidateExperimentConfig. InvalidArgument for an
// unknown algorithm or schedule name, text that does not parse (with its line and column), or a
// config that does not validate.
absl::StatusOr<gdaqd::v1::ExperimentConfig> StudyRunConfig(const StudyRun& run,
                                                           const std::string& extra);

// The commit a run ran at, kept beside its results in <dir>/commit.txt ("" if none).
std::string ReadRunCommit(const StudyRun& run);
// Records `commit` for the run: the file holds the first commit it was submitted at, then every
// other commit it was resumed at ("a,b"). Internal/NotFound from the file system.
absl::Status NoteRunCommit(const StudyRun& run, const std::string& commit);

// Loads the run if its folder holds a SUCCEEDED status.textproto with the full budget and a
// non-empty metrics.csv: sets finished, metrics and commit, and returns true. Otherwise leaves
// the run unfinished and returns false.
bool LoadFinishedRun(StudyRun& run);

// What the report says about how the study was run.
struct StudySetup {
  std::string seeds;         // as given, e.g. "0,1,2,3,4"
  std::string budgets;       // e.g. "point_maze=30000,ant_trap=20000"
  std::string config_extra;  // text merged into every config; empty for the protocol's
  int parallel = 0;
  int workers = 0;
};

// Rebuilds, in `out`, table1.csv, schedule_arm.csv, results.md and progress_<task>.svg for every
// task of `runs` (in order of first appearance), from the runs with `finished` set only; a group
// with fewer finished runs than planned says so ("3 of 5"). Statistics per the protocol's
// Analysis section: see the column notes written into results.md. Returns the Markdown it wrote
// (also the table's text for a terminal), or the I/O error of the first file that failed.
absl::StatusOr<std::string> WriteStudyReport(const std::string& out,
                                             const std::vector<StudyRun>& runs,
                                             const StudySetup& setup);

}  // namespace gdaqd::bench

#endif  // GDAQD_BENCH_STUDY_H_
