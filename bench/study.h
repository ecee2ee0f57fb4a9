// The reproduction study's runs, their configs, and the report built from whichever of them have
// finished (docs/reproduction/protocol.md). bench/reproduce.cc runs the grid; this file is what
// it shares with its test: no processes, no RPCs (study.cc; the plan and other grids' MAP-Elites
// references: study_plan.cc).
//
// Functions are thread-compatible: they touch only their arguments and the files named.
#ifndef GDAQD_BENCH_STUDY_H_
#define GDAQD_BENCH_STUDY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/results/csv.h"
#include "gdaqd/v1/config.pb.h"
#include "gdaqd/v1/coordinator.pb.h"

namespace gdaqd::bench {

// One sitting of a run: the span one bench_reproduce followed it, the budget used (evaluations;
// environment steps for an RL run) when it attached and at its last poll (a stopped run resumes
// from its checkpoint, which may be a batch before or after that), and the other runs that
// runner followed while they were live at any time in that span: they shared its coordinator
// and workers.
struct Sitting {
  absl::Time started;
  absl::Time ended;
  int64_t used_started = 0;
  int64_t used_ended = 0;
  std::vector<std::string> beside;  // RunName()s, sorted, each once
};

// One cell of the grid: a task, an algorithm, a seed, and for a schedule arm its learning
// schedule. A run of a deep-RL baseline (IsRlRun(): TD3, SAC, DIAYN, SMERL; the protocol's
// addendum 2) has a budget in environment steps instead of evaluations.
struct StudyRun {
  std::string task;       // e.g. "ant_trap"
  std::string algorithm;  // an Algorithm enum name, e.g. "GDA_QD"
  // Empty for the main grid; else a SchedulerConfig.LearningSchedule name ("PIPELINED") that the
  // run sets and that makes its name and group distinct.
  std::string schedule;
  int64_t seed = 0;
  int64_t budget = 0;  // real evaluations; environment steps for an RL run (IsRlRun())
  std::string dir;     // its results folder, <out>/runs/<name>

  // Filled by LoadFinishedRun(): the run's history, the commit(s) it ran at ("" unknown) and
  // its sittings (none for a run that finished before they were recorded).
  bool finished = false;
  std::vector<client::MetricsRow> metrics;
  std::string commit;
  std::vector<Sitting> sittings;
};

// True when the run's algorithm is one of the deep-RL baselines (common::IsRlAlgorithm: TD3, SAC,
// DIAYN, SMERL): its budget is budget.max_env_steps, its measure the final max_eval_return, and
// the report keeps it out of the QD statistics. False for an unknown algorithm name.
bool IsRlRun(const StudyRun& run);

// "<task>_<algorithm>[_<schedule>]_s<seed>" in lower case, e.g. "ant_trap_gda_qd_pipelined_s0".
// Also the experiment's `name` on the coordinator, by which a restarted runner finds it.
std::string RunName(const StudyRun& run);

// The group a run is aggregated in: its algorithm, or "<algorithm>_<schedule>" for an arm.
std::string GroupLabel(const StudyRun& run);

// The run's config: name, algorithm, seed, env.task, budget.max_evaluations and the arm's
// scheduler.learning_schedule, then `extra` (text format) merged in as a message of its own, so
// it may set fields inside sections already present (e.g. "env { action_map: CLIP_1_DIVIDE_10 }"),
// a later value winning; then ApplyDefaults and ValidateExperimentConfig. An RL run sets
// budget.max_env_steps instead of budget.max_evaluations, and before `extra` the addendum 2
// settings of its rows (study.cc: kRlActorHiddenSizes, kSmerlGates): the 256-256 ReLU actor and,
// for SMERL, the task's gate. InvalidArgument for an unknown algorithm or schedule name, SMERL on a
// task the addendum gives no gate for, text that does not parse (with its line and column), or a
// config that does not validate.
absl::StatusOr<gdaqd::v1::ExperimentConfig> StudyRunConfig(const StudyRun& run,
                                                           const std::string& extra);

// The commit a run ran at, kept beside its results in <dir>/commit.txt ("" if none).
std::string ReadRunCommit(const StudyRun& run);
// Records `commit` for the run: the file holds the first commit it was submitted at, then every
// other commit it was resumed at ("a,b"). Internal/NotFound from the file system.
absl::Status NoteRunCommit(const StudyRun& run, const std::string& commit);

// A run's sittings are kept beside its results in <dir>/sittings.csv: a header line, then a
// line a sitting, "started,ended,used_started,used_ended,beside" (UTC, RFC 3339 to the second;
// the names space-separated). WriteSittings replaces the file whole (Internal on I/O failure);
// ReadSittings gives none for a missing file and InvalidArgument, naming the file and line, for
// one that is not that form.
inline constexpr char kSittingsFile[] = "sittings.csv";
absl::Status WriteSittings(const std::string& dir, const std::vector<Sitting>& sittings);
absl::StatusOr<std::vector<Sitting>> ReadSittings(const std::string& dir);

// Whether two runs ran side by side (protocol, amendment to Analysis 4): both have sittings;
// none of either's sittings had a third live run beside it; and every sitting of one that began
// before the other's last sitting ended began within two minutes of a sitting of the other and
// had the other beside it. (A sitting that begins after the other run finished runs alone.)
bool RanSideBySide(const StudyRun& a, const StudyRun& b);

// What a grid's unfinished runs still need, judged by its finished ones: each unfinished run
// whose group (task and GroupLabel) has finished runs is charged the median of their final
// wall_seconds times the share of its budget it has left (`used[i]` of runs[i]'s budget used;
// 0 if not started). Those wall times were measured at the load of their own sittings, so this
// is a planning figure, not a measurement.
struct RemainingWork {
  int unfinished = 0;
  int estimated = 0;         // unfinished runs with finished runs of their group to go by
  double run_seconds = 0;    // the estimated runs' remaining wall seconds, summed
  std::vector<std::string> unknown;  // "<task> <group> (<runs>)": groups with none finished
};
RemainingWork EstimateRemaining(const std::vector<StudyRun>& runs,
                                const std::vector<int64_t>& used);
// One line for the runner's log, e.g. "remaining: 37 unfinished runs; 24 with finished runs of
// their task and algorithm to go by: 31.2 h of run time (15.6 h at 2 side by side); none
// finished yet: ant_trap DA_QD_EXT (5), ant_trap GDA_QD (5)".
std::string FormatRemaining(const RemainingWork& work, int parallel);

// Schedule-arm pairs (protocol, amendment to Analysis 4): an arm run and the run of the same
// task, algorithm and seed without a schedule. The index in `runs` of run i's partner, or -1.
int ArmPartner(const std::vector<StudyRun>& runs, size_t i);

// Which queued runs a runner submits now, given `queue` (indices into `runs`, in grid order) and
// the `active` runs, at `parallel` runs side by side. Runs are taken from the queue's front as
// slots allow, except that a pair runs alone: while a pair member is active nothing is
// submitted, and a pair member whose partner is unfinished is submitted only with that partner,
// both at once into a runner with nothing active, nothing else before them in this call
// (the queue waits for the runner to empty, keeping grid order); one whose partner has finished
// without it is submitted alone into an empty runner. A pair member whose unfinished partner is
// not queued, or that cannot run beside it (parallel < 2), is `held` instead.
struct Submissions {
  std::vector<size_t> submit;  // in this order
  std::vector<size_t> held;    // not submitted in this sitting
};
Submissions PlanSubmissions(const std::vector<StudyRun>& runs, const std::vector<size_t>& queue,
                            const std::vector<size_t>& active, int parallel);

// What the study counts of an experiment's budget: progress.evaluations, or for an RL run its
// `env_steps` metric (0 when the snapshot has none).
int64_t BudgetUsed(const StudyRun& run, const gdaqd::v1::ProgressSnapshot& progress);

// Seconds until a running run spends its budget, at the rate it has kept in this sitting:
// `sitting_used` of the budget in `sitting_seconds` since this runner first saw it (a sitting's
// load is what the rest of the run will see; a resumed run's `wall_seconds` spans sittings).
// Until the sitting has a rate (under 30 s or no progress) the run's own average
// (`wall_seconds` for `used`) stands in. -1 until the run has used 5 % of its budget (its
// first batches say little about the rest), when neither gives a rate, or when the budget is
// spent.
double RunEtaSeconds(int64_t budget, int64_t used, double wall_seconds, int64_t sitting_used,
                     double sitting_seconds);

// Whether an experiment that ended SUCCEEDED spent the run's whole budget: exactly `budget`
// evaluations, or for an RL run at least `budget` environment steps (the coordinator checks the
// step budget between rounds, so a run stops after the round that reaches it, up to a round's
// steps past it).
bool BudgetReached(const StudyRun& run, const gdaqd::v1::ProgressSnapshot& progress);

// Whether `config` (a coordinator's experiment of the run's name) is this run: its task,
// algorithm, seed and budget (max_env_steps for an RL run, else max_evaluations).
bool SameRun(const StudyRun& run, const gdaqd::v1::ExperimentConfig& config);

// Warnings about the live (not SUCCEEDED, FAILED or CANCELLED) experiments a coordinator holds
// that a grid's runner will not follow, one line each, naming the experiment's id and name: one
// of no run of the grid (e.g. the rest of the study when a subset runs into the same folder), one
// of a run the grid has finished (e.g. a state folder older than the committed results), and one
// of an unfinished run that is not that run (SameRun false: another task, algorithm, seed or
// budget). Each still shares the workers.
std::vector<std::string> LiveExperimentWarnings(
    const std::vector<StudyRun>& runs, const std::vector<gdaqd::v1::ExperimentStatus>& experiments);

// Loads the run if its folder holds a SUCCEEDED status.textproto with the full budget
// (BudgetReached) and a non-empty metrics.csv, and, for an RL run whose folder has a
// config.textproto, that config's budget.max_env_steps equals the run's budget (a run to a
// larger step budget also reaches this one): sets finished, metrics, commit and sittings (none
// when sittings.csv is missing or malformed), and returns true. Otherwise leaves the run
// unfinished and returns false.
bool LoadFinishedRun(StudyRun& run);

// Copies another grid's finished run of the same name into run.dir when it is this run (the
// ES grid takes its MAP-Elites cells from the main grid: protocol, addendum 1, amendment of
// 2026-12-01). The source is <source_grid>/runs/<RunName(run)>; it is this run when it loads as
// finished for `run`'s budget (LoadFinishedRun) and its config.textproto, as the coordinator
// reads a stored config (common::LoadStoredExperimentConfig), equals StudyRunConfig(run, extra)
// with the defaults applied. The copy (everything in the folder) gets a reused_from.txt naming
// the source folder and is loaded into `run`; it replaces whatever run.dir held.
// Returns false and changes nothing when the source has not finished (yet). FailedPrecondition,
// changing nothing, when it finished with another config or its config does not load;
// InvalidArgument from StudyRunConfig; Internal when the copy fails.
absl::StatusOr<bool> ReuseFinishedRun(StudyRun& run, const std::string& source_grid,
                                      const std::string& extra);

// bench_reproduce's defaults: the main grid of the protocol, and the budgets of the RL rows
// (addendum 2: 100,000 environment steps per task), used for the RL algorithms of any grid.
inline constexpr char kDefaultStudyTasks[] = "point_maze,ant_trap,ant_maze";
inline constexpr char kDefaultStudyAlgorithms[] = "MAP_ELITES,PGA_ME,DA_QD_EXT,GDA_QD";
inline constexpr char kDefaultStudySeeds[] = "0,1,2,3,4";
inline constexpr char kDefaultStudyBudgets[] = "point_maze=30000,ant_trap=20000,ant_maze=10000";
inline constexpr char kDefaultStudyRlBudgets[] =
    "point_maze=100000,ant_trap=100000,ant_maze=100000";
inline constexpr char kDefaultStudyArms[] = "ant_trap:GDA_QD:PIPELINED:0,1,2";

// The grid as bench_reproduce's flags give it (text as on the command line).
struct StudyPlan {
  std::string out;         // runs' folders are <out>/runs/<RunName>
  std::string tasks;       // "point_maze,ant_trap", in run order
  std::string algorithms;  // "MAP_ELITES,TD3"
  std::string seeds;       // "0,1,2"
  std::string budgets;     // evaluations per task for the QD and ES algorithms, "point_maze=30000"
  std::string rl_budgets;  // environment steps per task for the RL algorithms, same form
  std::string arms;        // ';'-separated task:ALGORITHM:LEARNING_SCHEDULE:seeds, may be empty
};

// The runs of `plan` in run order: per task, seed 0 of every algorithm, then seed 1, ...; then
// the arms whose task is in `tasks`. Each run's budget comes from `rl_budgets` when IsRlRun(),
// else from `budgets`. InvalidArgument for a budget entry that is not task=N (N >= 1), a seed
// that is not an integer, an arm that is not task:ALGORITHM:SCHEDULE:seeds, or a task with no
// budget entry of a kind (evaluations, steps) one of its algorithms needs.
absl::StatusOr<std::vector<StudyRun>> PlanStudy(const StudyPlan& plan);

// Which of the grid's runs bench_reproduce may submit in this sitting (--submit_only): run-name
// prefixes, comma-separated ("ant_trap_map_elites,ant_trap_pga_me_s1"); empty allows every run.
// It orders a sitting's work (e.g. runs short enough to finish in it first) without changing the
// grid: runs.csv and the report still cover every run, and runs the coordinator already holds
// are followed whatever the filter says. InvalidArgument for a prefix that names no run of `grid`.
absl::StatusOr<std::vector<std::string>> ParseSubmitOnly(absl::string_view text,
                                                         const std::vector<StudyRun>& grid);

// Whether `run` may be submitted under `prefixes` (ParseSubmitOnly's; empty allows all).
bool SubmitAllowed(const StudyRun& run, const std::vector<std::string>& prefixes);

// MAP-Elites' final max fitness on one task in another grid of the study, which addendum 2's
// Analysis puts beside the RL rows, stated with its (evaluation) budget.
struct QdReference {
  std::string grid;  // the grid's folder, e.g. "docs/reproduction/study"
  std::string task;
  int64_t budget = 0;             // evaluations
  int seeds = 0;                  // finished MAP_ELITES runs at that budget
  double max_fitness_median = 0;  // median of their final max_fitness
};

// The finished MAP_ELITES runs of the grid in `grid` per task of `tasks`: the folders
// <grid>/runs/<task>_map_elites_s<seed> that LoadFinishedRun() accepts at the max_evaluations of
// their config.textproto, at the budget most of them share (the larger on a tie). A task without
// one is left out; a missing folder gives none.
std::vector<QdReference> LoadQdReferences(const std::string& grid,
                                          const std::vector<std::string>& tasks);

// What the report says about how the study was run.
struct StudySetup {
  std::string seeds;         // as given, e.g. "0,1,2,3,4"
  std::string budgets;       // e.g. "point_maze=30000,ant_trap=20000"
  std::string config_extra;  // text merged into every config; empty for the protocol's
  int parallel = 0;
  int workers = 0;
  std::string rl_budgets;  // environment steps, e.g. "point_maze=100000"; shown if RL runs exist
  std::vector<QdReference> qd_references = {};  // beside the RL rows of their tasks
};

// Rebuilds, in `out`, table1.csv, schedule_arm.csv, results.md and progress_<task>.svg for every
// task of `runs` (in order of first appearance), from the runs with `finished` set only; a group
// with fewer finished runs than planned says so ("3 of 5"). Statistics per the protocol's
// Analysis section: see the column notes written into results.md. RL runs (IsRlRun) are not
// part of them: they get the section "Deep-RL rows (max total reward)" (addendum 2's Analysis:
// per task and method the median, min and max of the final max_eval_return, QD-score % and
// coverage for information), rl_rows.csv and rl_progress_<task>.svg (max_eval_return against
// env_steps), with setup.qd_references of their tasks beside them (rl_map_elites_reference.csv).
// Without RL runs the files are exactly what they were before RL rows existed; with
// only RL runs table1.csv, schedule_arm.csv, progress_<task>.svg and Table 1 are not written.
// Returns the Markdown it wrote (also the table's text for a terminal), or the I/O error of the
// first file that failed.
absl::StatusOr<std::string> WriteStudyReport(const std::string& out,
                                             const std::vector<StudyRun>& runs,
                                             const StudySetup& setup);

}  // namespace gdaqd::bench

#endif  // GDAQD_BENCH_STUDY_H_
