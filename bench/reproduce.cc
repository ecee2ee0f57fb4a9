// The reproduction study (docs/reproduction/protocol.md): task x algorithm x seed, plus the
// schedule arm, through the real system (one gdaqd-server and gdaqd-worker processes on
// loopback). With no flags it runs the committed protocol's grid into docs/reproduction/study;
// the deep-RL rows (protocol addendum 2) are
//   --out docs/reproduction/study-rl --algorithms=TD3,SAC,DIAYN,SMERL --seeds=0,1,2 --arms=
// whose runs are budgeted in environment steps (--rl_budgets). Into --out it writes:
//   runs/<run>/        each finished run's results folder (no archive_params.npy), commit.txt
//                      and sittings.csv (each sitting's span, budget used and the runs beside
//                      it; kept up to date while the run is followed)
//   runs.csv           every run of the grid: state, evaluations, wall seconds, commit (and
//                      env_steps when the grid has RL runs); rewritten after every change
//   table1.csv, results.md, schedule_arm.csv, progress_<task>.svg   the report (bench/study.h),
//                      from finished runs only; rebuilt at the end and by --report_only; with RL
//                      runs also rl_rows.csv, rl_progress_<task>.svg and
//                      rl_map_elites_reference.csv (from --qd_reference_grids)
//   state/             the coordinator's --state_dir: checkpoints of unfinished runs (or
//                      --state_dir elsewhere)
//   logs/              server.log, worker_<i>.log
// Resumable: killing the runner (SIGINT/SIGTERM/SIGKILL: the coordinator gets SIGTERM and
// checkpoints) and starting it again with the same arguments re-attaches to the experiments the
// coordinator restores from state/ (found by name), loads finished runs, and submits the rest.
// A FAILED/CANCELLED run is reported and submitted again only with --retry_failed.
//
//   build/bench/bench_reproduce [--out DIR] [--tasks point_maze] [--seeds 0,1]
//       [--algorithms MAP_ELITES,GDA_QD] [--budgets point_maze=300] [--arms ""]
//       [--rl_budgets point_maze=3000]
//       [--config_extra "env { action_map: CLIP_1_DIVIDE_10 }"] [--report_only]
//       [--submit_only ant_trap_map_elites,ant_trap_pga_me_s1]
//       [--reuse_from docs/reproduction/study --reuse_algorithms MAP_ELITES]
// --tasks, --algorithms, --seeds, --arms and the budgets define the grid, and with it runs.csv and
// the report: give the same ones at every sitting. --submit_only only chooses which of its
// unfinished runs this sitting may start (e.g. those that can finish before the sitting ends).
// --reuse_from with --reuse_algorithms: those algorithms' runs are copied from another grid once
// they have finished there with the same config (ReuseFinishedRun; reused_from.txt says so), and
// are never submitted by this grid. The ES grid takes its MAP-Elites runs from the main grid so.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/study.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "client/progress.h"
#include "client/results/svg_plots.h"
#include "client/results_folder.h"

ABSL_FLAG(std::string, out, "docs/reproduction/study", "output directory");
ABSL_FLAG(std::string, tasks, gdaqd::bench::kDefaultStudyTasks, "tasks, in run order");
ABSL_FLAG(std::string, algorithms, gdaqd::bench::kDefaultStudyAlgorithms, "algorithms");
ABSL_FLAG(std::string, seeds, gdaqd::bench::kDefaultStudySeeds, "seeds of the main grid");
ABSL_FLAG(std::string, budgets, gdaqd::bench::kDefaultStudyBudgets,
          "evaluation budget per task, task=N,... (QD and ES algorithms)");
ABSL_FLAG(std::string, rl_budgets, gdaqd::bench::kDefaultStudyRlBudgets,
          "environment-step budget per task, task=N,... (TD3, SAC, DIAYN, SMERL; protocol "
          "addendum 2)");
ABSL_FLAG(std::string, qd_reference_grids, "docs/reproduction/study,docs/reproduction/study-es",
          "grid folders whose finished MAP_ELITES runs' median final max fitness the report puts "
          "beside the RL rows of their tasks, with their budgets (protocol addendum 2); empty "
          "for none");
ABSL_FLAG(std::string, arms, gdaqd::bench::kDefaultStudyArms,
          "schedule arms run after the grid, ';'-separated task:ALGORITHM:LEARNING_SCHEDULE:seeds "
          "(each only if its task is in --tasks); empty for none");
ABSL_FLAG(std::string, config_extra, "",
          "text-format fields merged into every config as a message of their own (e.g. \"env { "
          "action_map: CLIP_1_DIVIDE_10 }\"), for ablations; not the protocol's");
ABSL_FLAG(std::string, state_dir, "",
          "the coordinator's --state_dir (checkpoints of unfinished runs); default <out>/state. "
          "A folder outside the source tree keeps them when the tree is checked out anew");
ABSL_FLAG(int, parallel, 2, "experiments run at the same time (they share the workers)");
ABSL_FLAG(int, workers, 2, "worker processes");
ABSL_FLAG(bool, report_only, false, "rebuild the report from the finished runs and exit");
ABSL_FLAG(bool, retry_failed, false, "submit FAILED/CANCELLED runs again");
ABSL_FLAG(std::string, reuse_from, "",
          "another grid's folder (e.g. docs/reproduction/study) whose finished runs of "
          "--reuse_algorithms this grid copies instead of running them, when they are the same run "
          "(same name, same config); such runs are never submitted here (protocol, addendum 1)");
ABSL_FLAG(std::string, reuse_algorithms, "",
          "algorithms whose runs come from --reuse_from, comma-separated (e.g. MAP_ELITES)");
ABSL_FLAG(std::string, submit_only, "",
          "run-name prefixes, comma-separated (e.g. ant_trap_map_elites,ant_trap_pga_me_s1): "
          "submit only these of the grid's unfinished runs in this sitting; runs.csv and the "
          "report still cover the whole grid, and runs the coordinator holds are followed");
ABSL_FLAG(absl::Duration, progress_every, absl::Seconds(60), "how often to print progress");

namespace gdaqd::bench {
namespace {

using gdaqd::v1::ExperimentStatus;

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// What the runner knows of one run of the grid (a line of runs.csv).
struct Tracked {
  StudyRun run;
  std::string state = "NOT_SUBMITTED";  // or an ExperimentState name
  std::string id;                       // the coordinator's, once submitted or found
  int64_t evaluations = 0;
  int64_t env_steps = 0;         // RL runs only
  double max_eval_return = NAN;  // RL runs only: max total reward so far
  double wall_seconds = 0, qd_score_pct = 0;
  std::string error;
  // The budget used when this runner first saw the run RUNNING, and when: the sitting's rate.
  int64_t sitting_start_used = -1;
  absl::Time sitting_start;
  // Its earlier sittings (sittings.csv) and, last, this one, while this runner follows it.
  std::vector<Sitting> sittings;
  bool in_sitting = false;
};

// The grid in run order (PlanStudy): per task, seed 0 of every algorithm, then seed 1, ...; then
// the arms.
absl::StatusOr<std::vector<Tracked>> BuildGrid(const std::string& out) {
  absl::StatusOr<std::vector<StudyRun>> runs = PlanStudy(
      {out, absl::GetFlag(FLAGS_tasks), absl::GetFlag(FLAGS_algorithms), absl::GetFlag(FLAGS_seeds),
       absl::GetFlag(FLAGS_budgets), absl::GetFlag(FLAGS_rl_budgets), absl::GetFlag(FLAGS_arms)});
  if (!runs.ok()) return runs.status();
  std::vector<Tracked> grid;
  for (StudyRun& run : *runs) {
    Tracked t;
    t.run = std::move(run);
    grid.push_back(std::move(t));
  }
  return grid;
}

std::vector<StudyRun> RunsOf(const std::vector<Tracked>& grid) {
  std::vector<StudyRun> runs;
  for (const Tracked& t : grid) runs.push_back(t.run);
  return runs;
}

// The source tree's commit ("<hash>" or "<hash>-dirty"), "" if git cannot tell.
std::string CurrentCommit() {
  auto run = [](const std::string& command) {
    std::string output;
    if (FILE* pipe = popen(command.c_str(), "r")) {
      char buffer[256];
      while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
      pclose(pipe);
    }
    return output;
  };
  const std::string git = absl::StrCat("git -C '", GDAQD_SOURCE_DIR, "' ");
  std::string hash = run(git + "rev-parse --short=12 HEAD 2>/dev/null");
  absl::StripTrailingAsciiWhitespace(&hash);
  if (hash.empty()) return "";
  const bool dirty = !run(git + "status --porcelain --untracked-files=no 2>/dev/null").empty();
  return dirty ? hash + "-dirty" : hash;
}

// The columns of the main grid's runs.csv, then env_steps when the grid has RL runs (whose
// budget column is in environment steps).
void WriteRunsCsv(const std::string& out, const std::vector<Tracked>& grid) {
  const bool rl =
      std::any_of(grid.begin(), grid.end(), [](const Tracked& t) { return IsRlRun(t.run); });
  std::string csv = absl::StrCat(
      "run,task,algorithm,schedule,seed,budget,state,evaluations,wall_seconds,qd_score_pct,"
      "experiment_id,commit,error",
      rl ? ",env_steps" : "", "\n");
  for (const Tracked& t : grid) {
    std::string error = t.error;
    std::replace(error.begin(), error.end(), ',', ';');
    std::replace(error.begin(), error.end(), '\n', ' ');
    // commit.txt lists a resumed run's commits as "a,b": one field here, "a b".
    std::string commit = ReadRunCommit(t.run);
    std::replace(commit.begin(), commit.end(), ',', ' ');
    absl::StrAppend(
        &csv,
        absl::StrJoin({RunName(t.run), t.run.task, t.run.algorithm, t.run.schedule,
                       absl::StrCat(t.run.seed), absl::StrCat(t.run.budget), t.state,
                       absl::StrCat(t.evaluations), absl::StrFormat("%.1f", t.wall_seconds),
                       absl::StrFormat("%.3f", t.qd_score_pct), t.id, commit, error},
                      ","),
        rl ? absl::StrCat(",", t.env_steps) : "", "\n");
  }
  if (absl::Status s = client::WriteTextFile(out + "/runs.csv", csv); !s.ok()) {
    std::fprintf(stderr, "warning: %s\n", s.ToString().c_str());
  }
}

void Note(const std::string& text) {
  std::fprintf(stderr, "[%s] %s\n",
               absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(),
               text.c_str());
}

void Update(Tracked& t, const ExperimentStatus& status) {
  t.state = gdaqd::v1::ExperimentState_Name(status.state());
  t.id = status.id();
  t.evaluations = status.progress().evaluations();
  t.env_steps = IsRlRun(t.run) ? BudgetUsed(t.run, status.progress()) : 0;
  t.max_eval_return = client::ProgressMetric(status.progress(), "max_eval_return").value_or(NAN);
  t.wall_seconds = status.progress().wall_seconds();
  t.qd_score_pct = status.progress().qd_score_pct();
  t.error = status.error();
  if (t.sitting_start_used < 0 && status.state() == gdaqd::v1::RUNNING) {
    t.sitting_start_used = BudgetUsed(t.run, status.progress());
    t.sitting_start = absl::Now();
  }
}

bool IsFinal(const std::string& state) {
  return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
}

// "<used>/<budget> evals" or, for an RL run, "<used>/<budget> steps".
std::string BudgetText(const Tracked& t) {
  return IsRlRun(t.run) ? absl::StrCat(t.env_steps, "/", t.run.budget, " steps")
                        : absl::StrCat(t.evaluations, "/", t.run.budget, " evals");
}

// --reuse_from / --reuse_algorithms: which runs this grid copies from another grid.
struct ReusePlan {
  std::string source;                   // the other grid's folder; empty: no reuse
  std::vector<std::string> algorithms;  // ALGORITHM names
};

absl::StatusOr<ReusePlan> ParseReusePlan(const std::vector<Tracked>& grid) {
  ReusePlan plan;
  plan.source = absl::GetFlag(FLAGS_reuse_from);
  plan.algorithms = absl::StrSplit(absl::GetFlag(FLAGS_reuse_algorithms), ',', absl::SkipEmpty());
  if (plan.source.empty() != plan.algorithms.empty()) {
    return absl::InvalidArgumentError("--reuse_from and --reuse_algorithms go together");
  }
  for (const std::string& algorithm : plan.algorithms) {
    const bool in_grid = std::any_of(grid.begin(), grid.end(),
                                     [&](const Tracked& t) { return t.run.algorithm == algorithm; });
    if (!in_grid) {
      return absl::InvalidArgumentError(
          absl::StrCat("--reuse_algorithms: ", algorithm, " has no run in this grid"));
    }
  }
  return plan;
}

bool ReuseWanted(const StudyRun& run, const ReusePlan& plan) {
  return std::find(plan.algorithms.begin(), plan.algorithms.end(), run.algorithm) !=
         plan.algorithms.end();
}

// What a finished run's line of runs.csv says.
void MarkFinished(Tracked& t) {
  t.state = "SUCCEEDED";
  t.error.clear();
  t.evaluations = t.run.metrics.back().evaluations;
  t.env_steps =
      static_cast<int64_t>(client::FindMetric(t.run.metrics.back(), "env_steps").value_or(0));
  t.wall_seconds = t.run.metrics.back().wall_seconds;
  t.qd_score_pct = t.run.metrics.back().qd_score_pct;
}

// Copies the runs `plan` reuses that have finished in its source grid (ReuseFinishedRun), except
// those this grid's coordinator already follows. Returns how many it copied; a run that cannot
// be reused keeps the reason in its `error` (noted once).
int TryReuse(std::vector<Tracked>& grid, const ReusePlan& plan) {
  int copied = 0;
  for (Tracked& t : grid) {
    if (t.run.finished || !t.id.empty() || !ReuseWanted(t.run, plan)) continue;
    absl::StatusOr<bool> reused =
        ReuseFinishedRun(t.run, plan.source, absl::GetFlag(FLAGS_config_extra));
    if (reused.ok() && *reused) {
      MarkFinished(t);
      Note(absl::StrCat(RunName(t.run), ": reused from ", plan.source, "/runs/", RunName(t.run)));
      ++copied;
      continue;
    }
    // runs.csv is committed: its line names no folder of this machine; the log does.
    const std::string why = reused.ok() ? "waits for its run in the --reuse_from grid"
                                        : std::string(reused.status().message());
    if (why != t.error) {
      Note(absl::StrCat(RunName(t.run), ": ", reused.ok() ? absl::StrCat("waits for ", plan.source)
                                                          : why));
      t.error = why;
    }
  }
  return copied;
}

int64_t Used(const Tracked& t) { return IsRlRun(t.run) ? t.env_steps : t.evaluations; }

// Opens the run's sitting in this runner (its folder exists: NoteRunCommit made it), after the
// earlier ones of a resumed run; a run submitted anew starts its record over. A sittings.csv
// that does not read is left as it is, and this sitting goes unrecorded.
void BeginSitting(Tracked& t, bool resumed) {
  absl::StatusOr<std::vector<Sitting>> earlier =
      resumed ? ReadSittings(t.run.dir) : std::vector<Sitting>{};
  if (!earlier.ok()) {
    Note(absl::StrCat("warning: ", RunName(t.run), ": ", earlier.status().message(),
                      " (this sitting is not recorded)"));
    return;
  }
  t.sittings = *std::move(earlier);
  Sitting now;
  now.started = now.ended = absl::Now();
  now.used_started = now.used_ended = Used(t);
  t.sittings.push_back(std::move(now));
  t.in_sitting = true;
}

// Brings the open sittings up to now: their end, budget used, and the live runs beside them.
void ExtendSittings(const std::vector<Tracked*>& active) {
  for (Tracked* t : active) {
    if (!t->in_sitting) continue;
    Sitting& s = t->sittings.back();
    s.ended = absl::Now();
    s.used_ended = Used(*t);
    for (const Tracked* other : active) {
      if (other == t || IsFinal(other->state)) continue;
      const std::string name = RunName(other->run);
      auto at = std::lower_bound(s.beside.begin(), s.beside.end(), name);
      if (at == s.beside.end() || *at != name) s.beside.insert(at, name);
    }
  }
}

void SaveSittings(const Tracked& t) {
  if (!t.in_sitting) return;
  if (absl::Status s = WriteSittings(t.run.dir, t.sittings); !s.ok()) {
    Note(absl::StrCat("warning: ", RunName(t.run), ": ", s.ToString()));
  }
}

// Sorts the unfinished runs by what the coordinator has of each (found by name): a RUNNING or
// PENDING experiment is re-attached, a SUCCEEDED one not yet written out is attached to be
// exported, a FAILED/CANCELLED one is reported (queued again with --retry_failed), and the
// rest are queued for submission in grid order.
void Match(std::vector<Tracked>& grid, const std::vector<ExperimentStatus>& experiments,
           const std::string& commit, const std::vector<std::string>& submit_only,
           const ReusePlan& reuse, std::vector<Tracked*>& active, std::deque<Tracked*>& queue) {
  for (Tracked& t : grid) {
    if (t.run.finished) continue;
    const ExperimentStatus* found = nullptr;
    for (const ExperimentStatus& e : experiments) {  // ascending id: the newest wins ...
      if (e.config().name() != RunName(t.run)) continue;
      const bool live = !IsFinal(gdaqd::v1::ExperimentState_Name(e.state()));
      if (found == nullptr || live || IsFinal(gdaqd::v1::ExperimentState_Name(found->state()))) {
        found = &e;  // ... unless an older one still runs
      }
      if (live) break;
    }
    if (found == nullptr || !SameRun(t.run, found->config()) ||
        (found->state() == gdaqd::v1::SUCCEEDED && !BudgetReached(t.run, found->progress()))) {
      if (SubmitAllowed(t.run, submit_only) && !ReuseWanted(t.run, reuse)) queue.push_back(&t);
      continue;
    }
    Update(t, *found);
    if (!IsFinal(t.state) || t.state == "SUCCEEDED") {
      Note(absl::StrCat(RunName(t.run), ": re-attached to ", t.id, " (", t.state, ", ",
                        BudgetText(t), ")"));
      (void)NoteRunCommit(t.run, commit);
      if (!IsFinal(t.state)) BeginSitting(t, /*resumed=*/true);
      active.push_back(&t);
    } else if (absl::GetFlag(FLAGS_retry_failed) && SubmitAllowed(t.run, submit_only) &&
               !ReuseWanted(t.run, reuse)) {
      Note(absl::StrCat(RunName(t.run), ": ", t.id, " ended ", t.state, " (", t.error,
                        "); submitting it again"));
      queue.push_back(&t);
    } else {
      Note(absl::StrCat(RunName(t.run), ": ", t.id, " ended ", t.state, ": ", t.error,
                        " (not re-run; --retry_failed runs it again)"));
    }
  }
}

// Exports a finished experiment into the run's folder (without the policy parameters), loads
// it back, and deletes the experiment from the coordinator's state.
void Finish(client::ExperimentClient& client, Tracked& t) {
  SaveSittings(t);  // beside the results, which do not replace it
  t.in_sitting = false;
  if (t.state != "SUCCEEDED") {
    Note(absl::StrCat("error: ", RunName(t.run), " (", t.id, ") ended ", t.state, ": ", t.error));
    return;
  }
  absl::StatusOr<client::ExportedArchive> exported = client.Export(t.id);
  absl::Status written =
      exported.ok() ? client::WriteResultsFolder(t.run.dir, *exported) : exported.status();
  std::filesystem::remove(t.run.dir + "/archive_params.npy");  // tens of MB per run
  if (!written.ok() || !LoadFinishedRun(t.run)) {
    t.error = written.ok() ? "cannot read back its results folder" : written.ToString();
    Note(absl::StrCat("error: ", RunName(t.run), ": ", t.error, " (kept on the coordinator)"));
    return;
  }
  t.error.clear();
  if (absl::Status deleted = client.Delete(t.id); !deleted.ok()) {
    Note(absl::StrCat("warning: ", RunName(t.run), ": ", deleted.ToString()));
  }
  const client::MetricsRow& last = t.run.metrics.back();
  if (IsRlRun(t.run)) {
    Note(absl::StrFormat(
        "%s: done in %.0f s, %d env steps (%d episodes), max total reward %.2f, QD %.1f%%, "
        "coverage %.1f%%",
        RunName(t.run), last.wall_seconds, t.env_steps, last.evaluations,
        client::FindMetric(last, "max_eval_return").value_or(NAN), last.qd_score_pct,
        last.coverage_pct));
    return;
  }
  Note(absl::StrFormat("%s: done in %.0f s, %d evaluations, QD %.1f%%, coverage %.1f%%, max %.2f",
                       RunName(t.run), last.wall_seconds, last.evaluations, last.qd_score_pct,
                       last.coverage_pct, last.max_fitness));
}

void PrintProgress(const std::vector<Tracked>& grid, const std::vector<Tracked*>& active) {
  int done = 0;
  for (const Tracked& t : grid) done += t.run.finished ? 1 : 0;
  std::string line = absl::StrCat(done, "/", grid.size(), " runs finished");
  for (const Tracked* t : active) {
    const std::string measure = IsRlRun(t->run)
                                    ? absl::StrFormat("max total reward %.2f", t->max_eval_return)
                                    : absl::StrFormat("QD %.1f%%", t->qd_score_pct);
    absl::StrAppend(&line, absl::StrFormat("; %s %s, %s, %.0f s", RunName(t->run), BudgetText(*t),
                                           measure, t->wall_seconds));
    const int64_t used = Used(*t);
    const double eta =
        t->sitting_start_used < 0
            ? -1
            : RunEtaSeconds(t->run.budget, used, t->wall_seconds, used - t->sitting_start_used,
                            absl::ToDoubleSeconds(absl::Now() - t->sitting_start));
    if (eta >= 0) absl::StrAppend(&line, ", ETA ", client::FormatDuration(eta));
  }
  Note(line);
}

// What the unfinished runs still need, from the finished ones (EstimateRemaining).
void NoteRemaining(const std::vector<Tracked>& grid) {
  std::vector<int64_t> used;
  for (const Tracked& t : grid) used.push_back(Used(t));
  Note(FormatRemaining(EstimateRemaining(RunsOf(grid), used), absl::GetFlag(FLAGS_parallel)));
}

// Sleeps `d` unless a signal arrives first.
void SleepUnlessStopped(absl::Duration d) {
  const absl::Time end = absl::Now() + d;
  while (!g_stop && absl::Now() < end) absl::SleepFor(absl::Milliseconds(100));
}

// Submits and follows runs until every queued and attached run has ended or a signal arrives.
absl::Status Drive(client::ExperimentClient& client, std::vector<Tracked>& grid,
                   std::vector<Tracked*> active, std::deque<Tracked*> queue, const std::string& out,
                   const std::string& commit, const ReusePlan& reuse) {
  const size_t parallel = std::max(1, absl::GetFlag(FLAGS_parallel));
  absl::Time last_progress = absl::InfinitePast();
  int failed_polls = 0;
  NoteRemaining(grid);
  while ((!queue.empty() || !active.empty()) && !g_stop) {
    // The queue's front as slots allow; a schedule-arm pair alone (PlanSubmissions).
    std::vector<size_t> submit;
    if (active.size() < parallel && !queue.empty()) {
      const auto index = [&](const Tracked* t) { return static_cast<size_t>(t - grid.data()); };
      std::vector<size_t> queued, running;
      for (const Tracked* t : queue) queued.push_back(index(t));
      for (const Tracked* t : active) running.push_back(index(t));
      const Submissions plan =
          PlanSubmissions(RunsOf(grid), queued, running, static_cast<int>(parallel));
      const auto drop = [&](size_t i) {
        queue.erase(std::find(queue.begin(), queue.end(), &grid[i]));
      };
      for (size_t i : plan.held) {
        Note(absl::StrCat(RunName(grid[i].run),
                          ": not submitted: a schedule-arm pair runs side by side, alone "
                          "(protocol, amendment to Analysis 4); let this sitting submit both, "
                          "with --parallel of at least 2"));
        drop(i);
      }
      for (size_t i : plan.submit) drop(i);
      submit = plan.submit;
    }
    for (size_t i : submit) {
      Tracked& t = grid[i];
      absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
          StudyRunConfig(t.run, absl::GetFlag(FLAGS_config_extra));
      absl::StatusOr<std::string> id = config.ok() ? client.Submit(*config) : config.status();
      if (!id.ok()) return id.status();
      t.id = *id;
      t.state = "PENDING";
      t.evaluations = 0;
      t.error.clear();
      if (absl::Status s = NoteRunCommit(t.run, commit); !s.ok()) return s;
      Note(absl::StrCat(RunName(t.run), ": submitted as ", t.id));
      BeginSitting(t, /*resumed=*/false);
      active.push_back(&t);
    }
    WriteRunsCsv(out, grid);
    SleepUnlessStopped(absl::Seconds(2));
    for (auto it = active.begin(); it != active.end() && !g_stop;) {
      absl::StatusOr<ExperimentStatus> status = client.Get((*it)->id);
      if (!status.ok()) {
        if (++failed_polls > 30) return status.status();
        ++it;
        continue;
      }
      failed_polls = 0;
      Update(**it, *status);
      ExtendSittings(active);
      if (!IsFinal((*it)->state)) {
        ++it;
        continue;
      }
      Finish(client, **it);
      WriteRunsCsv(out, grid);
      it = active.erase(it);
    }
    if (absl::Now() - last_progress >= absl::GetFlag(FLAGS_progress_every)) {
      for (const Tracked* t : active) SaveSittings(*t);
      if (TryReuse(grid, reuse) > 0) WriteRunsCsv(out, grid);
      PrintProgress(grid, active);
      last_progress = absl::Now();
    }
  }
  ExtendSittings(active);
  for (const Tracked* t : active) SaveSittings(*t);
  NoteRemaining(grid);
  PrintProgress(grid, active);  // the log ends with where the grid stands
  return absl::OkStatus();
}

// Waits (up to two minutes) until no coordinator holds state_dir's lock: one stopped by a
// previous runner may still be writing its checkpoints.
absl::Status WaitForStateDir(const std::string& state_dir) {
  std::filesystem::create_directories(state_dir);
  const std::string path = state_dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path));
  const absl::Time deadline = absl::Now() + absl::Minutes(2);
  bool locked = false;
  while (!(locked = ::flock(fd, LOCK_EX | LOCK_NB) == 0) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(500));
  }
  if (locked) ::flock(fd, LOCK_UN);
  ::close(fd);
  if (locked) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      path, " is still held: another gdaqd-server (or bench_reproduce) uses ", state_dir));
}

// Starts the coordinator on its state folder (--state_dir, default <out>/state) and the workers,
// then drives the unfinished runs.
absl::Status RunStudy(std::vector<Tracked>& grid, const std::string& out,
                      const std::vector<std::string>& submit_only, const ReusePlan& reuse) {
  const std::string commit = CurrentCommit();
  // Experiments side by side share the cores with the workers: one OpenBLAS thread in the
  // coordinator so they do not oversubscribe (the server inherits this).
  if (absl::GetFlag(FLAGS_parallel) > 1) setenv("OPENBLAS_NUM_THREADS", "1", 1);
  client::LocalClusterOptions options;
  options.workers = absl::GetFlag(FLAGS_workers);
  options.server_binary = GDAQD_SERVER_BINARY;
  options.worker_binary = GDAQD_WORKER_BINARY;
  options.log_dir = out + "/logs";
  options.state_dir =
      absl::GetFlag(FLAGS_state_dir).empty() ? out + "/state" : absl::GetFlag(FLAGS_state_dir);
  std::filesystem::create_directories(options.log_dir);
  if (absl::Status s = WaitForStateDir(options.state_dir); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<client::LocalCluster>> cluster =
      client::LocalCluster::Start(options);
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<std::unique_ptr<client::ExperimentClient>> client =
      client::ExperimentClient::Connect((*cluster)->address(), absl::Seconds(20));
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<ExperimentStatus>> experiments = (*client)->List();
  for (int i = 0; !experiments.ok() && i < 30 && !g_stop; ++i) {
    SleepUnlessStopped(absl::Seconds(1));
    experiments = (*client)->List();
  }
  if (!experiments.ok()) return experiments.status();
  Note(absl::StrCat("coordinator ", (*cluster)->address(), " on ", options.state_dir, " at commit ",
                    commit.empty() ? "unknown" : commit, ", ", experiments->size(),
                    " experiment(s) restored"));
  std::vector<Tracked*> active;
  std::deque<Tracked*> queue;
  // Live experiments this runner will not follow still share the workers.
  for (const std::string& w : LiveExperimentWarnings(RunsOf(grid), *experiments)) {
    Note(absl::StrCat("warning: ", w));
  }
  Match(grid, *experiments, commit, submit_only, reuse, active, queue);
  absl::Status driven = Drive(**client, grid, active, queue, out, commit, reuse);
  if (g_stop) {
    Note(
        "stopping: the coordinator checkpoints the unfinished runs; run again with the same "
        "arguments to resume");
  }
  (*cluster)->Stop();
  return driven;
}

// The report of the grid's finished runs, with MAP-Elites of --qd_reference_grids beside the RL
// rows.
absl::StatusOr<std::string> Report(const std::string& out, const std::vector<Tracked>& grid) {
  const std::vector<StudyRun> runs = RunsOf(grid);
  std::vector<std::string> rl_tasks;
  for (const Tracked& t : grid) {
    if (IsRlRun(t.run) &&
        std::find(rl_tasks.begin(), rl_tasks.end(), t.run.task) == rl_tasks.end()) {
      rl_tasks.push_back(t.run.task);
    }
  }
  StudySetup setup{absl::GetFlag(FLAGS_seeds),        absl::GetFlag(FLAGS_budgets),
                   absl::GetFlag(FLAGS_config_extra), absl::GetFlag(FLAGS_parallel),
                   absl::GetFlag(FLAGS_workers),      absl::GetFlag(FLAGS_rl_budgets)};
  for (absl::string_view reference :
       absl::StrSplit(absl::GetFlag(FLAGS_qd_reference_grids), ',', absl::SkipEmpty())) {
    for (QdReference& r : LoadQdReferences(std::string(reference), rl_tasks)) {
      setup.qd_references.push_back(std::move(r));
    }
  }
  return WriteStudyReport(out, runs, setup);
}

int Main() {
  const std::string out = absl::GetFlag(FLAGS_out);
  absl::StatusOr<std::vector<Tracked>> grid = BuildGrid(out);
  if (!grid.ok()) {
    std::fprintf(stderr, "error: %s\n", grid.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<std::vector<std::string>> submit_only =
      ParseSubmitOnly(absl::GetFlag(FLAGS_submit_only), RunsOf(*grid));
  if (!submit_only.ok()) {
    std::fprintf(stderr, "error: %s\n", submit_only.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<ReusePlan> reuse = ParseReusePlan(*grid);
  if (!reuse.ok()) {
    std::fprintf(stderr, "error: %s\n", reuse.status().ToString().c_str());
    return 2;
  }
  for (Tracked& t : *grid) {
    if (LoadFinishedRun(t.run)) MarkFinished(t);
  }
  if (!absl::GetFlag(FLAGS_report_only)) TryReuse(*grid, *reuse);
  const bool unfinished =
      std::any_of(grid->begin(), grid->end(), [](const Tracked& t) { return !t.run.finished; });
  int rc = 0;
  if (!absl::GetFlag(FLAGS_report_only)) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    if (unfinished) {
      absl::Status s = RunStudy(*grid, out, *submit_only, *reuse);
      if (!s.ok()) {
        Note(absl::StrCat("error: ", s.ToString()));
        rc = 1;
      }
    }
    WriteRunsCsv(out, *grid);
    if (g_stop) rc = 130;
  }
  absl::StatusOr<std::string> report = Report(out, *grid);
  if (!report.ok()) {
    std::fprintf(stderr, "error: %s\n", report.status().ToString().c_str());
    return 1;
  }
  std::printf("%s", report->c_str());
  return rc;
}

}  // namespace
}  // namespace gdaqd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gdaqd::bench::Main();
}
