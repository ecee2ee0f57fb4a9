#include "bench/study.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/study_stats.h"
#include "client/progress.h"
#include "client/results/atomic_file.h"
#include "client/results/svg_plots.h"
#include "common/config/algorithms/rl_rules.h"
#include "common/config/config.h"
#include "gdaqd/v1/coordinator.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace gdaqd::bench {
namespace {

using client::MetricsRow;
using gdaqd::v1::ExperimentConfig;

// Collects text-format parse errors as one message.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    absl::StrAppend(&text_, text_.empty() ? "" : "; ", "line ", line + 1, " column ", column + 1,
                    ": ", message);
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

std::string ReadWhole(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<Point> History(const StudyRun& run, double MetricsRow::*metric, bool by_wall) {
  std::vector<Point> points;
  for (const MetricsRow& row : run.metrics) {
    points.push_back(
        {by_wall ? row.wall_seconds : static_cast<double>(row.evaluations), row.*metric});
  }
  return points;
}

std::string Fmt(double v, const char* format = "%.1f") {
  return std::isfinite(v) ? absl::StrFormat(format, v) : "-";
}

// Median and quartiles over runs of a metric at every evaluation count from the latest first row
// on (study_stats.h).
Curve Aggregate(const std::vector<const StudyRun*>& runs, double MetricsRow::*metric) {
  std::vector<std::vector<Point>> histories;
  for (const StudyRun* run : runs) histories.push_back(History(*run, metric, false));
  return Aggregate(histories);
}

// Median, q1 and q3 of a metric's final value over runs.
struct Spread {
  double median, q1, q3;
};
Spread Final(const std::vector<const StudyRun*>& runs, double MetricsRow::*metric) {
  std::vector<double> values;
  for (const StudyRun* run : runs) values.push_back(run->metrics.back().*metric);
  return {Quantile(values, 0.5), Quantile(values, 0.25), Quantile(values, 0.75)};
}

std::vector<double> FinalValues(const std::vector<const StudyRun*>& runs,
                                double MetricsRow::*metric) {
  std::vector<double> values;
  for (const StudyRun* run : runs) values.push_back(run->metrics.back().*metric);
  return values;
}

// A planned group of one task: its label, its finished runs, how many were planned. The QD
// statistics' groups hold no RL run and the RL rows' hold nothing else.
struct Group {
  std::string label;
  bool arm = false;
  int64_t budget = 0;
  int planned = 0;
  std::vector<const StudyRun*> finished;
};

std::vector<Group> GroupsOf(const std::vector<StudyRun>& runs, const std::string& task,
                            bool rl = false) {
  std::vector<Group> groups;
  for (const StudyRun& run : runs) {
    if (run.task != task || IsRlRun(run) != rl) continue;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.label == GroupLabel(run); });
    if (it == groups.end()) {
      groups.push_back({GroupLabel(run), !run.schedule.empty(), run.budget, 0, {}});
      it = groups.end() - 1;
    }
    ++it->planned;
    if (run.finished && !run.metrics.empty()) it->finished.push_back(&run);
  }
  return groups;
}

std::string Commits(const std::vector<const StudyRun*>& runs) {
  std::set<std::string> commits;
  for (const StudyRun* run : runs) {
    for (absl::string_view c : absl::StrSplit(run->commit, ',', absl::SkipEmpty())) {
      commits.insert(std::string(c));
    }
  }
  return commits.empty() ? "?" : absl::StrJoin(commits, " ");
}

// One group's statistics against MAP-Elites' (docs/reproduction/protocol.md, Analysis 1-3).
struct GroupStats {
  Spread qd, coverage, fitness;
  std::vector<double> to_target;  // RankValue per run (+inf censored)
  int reached = 0;
  double to_target_median = NAN;  // +inf when the median run is censored
  MannWhitney evals_test{0, NAN, true}, qd_test{0, NAN, true};
  double imagined = NAN, wall = NAN, shares[4] = {NAN, NAN, NAN, NAN};
};

GroupStats Analyse(const Group& group, const Group* me, double target) {
  GroupStats s;
  s.qd = Final(group.finished, &MetricsRow::qd_score_pct);
  s.coverage = Final(group.finished, &MetricsRow::coverage_pct);
  s.fitness = Final(group.finished, &MetricsRow::max_fitness);
  for (const StudyRun* run : group.finished) {
    const TargetHit hit = EvaluationsToTarget(History(*run, &MetricsRow::qd_score_pct, false),
                                              target, static_cast<double>(run->budget));
    if (!hit.censored) ++s.reached;
    s.to_target.push_back(std::isnan(target) ? NAN : RankValue(hit));
  }
  s.to_target_median = Quantile(s.to_target, 0.5);
  if (me != nullptr && !group.arm && group.label != me->label) {
    std::vector<double> me_to_target;
    for (const StudyRun* run : me->finished) {
      me_to_target.push_back(
          std::isnan(target)
              ? NAN
              : RankValue(EvaluationsToTarget(History(*run, &MetricsRow::qd_score_pct, false),
                                              target, static_cast<double>(run->budget))));
    }
    s.evals_test = MannWhitneyU(s.to_target, me_to_target);
    s.qd_test = MannWhitneyU(FinalValues(group.finished, &MetricsRow::qd_score_pct),
                             FinalValues(me->finished, &MetricsRow::qd_score_pct));
  }
  std::vector<double> imagined;
  for (const StudyRun* run : group.finished) {
    imagined.push_back(static_cast<double>(run->metrics.back().imagined_evaluations));
  }
  s.imagined = Quantile(imagined, 0.5);
  s.wall = Quantile(FinalValues(group.finished, &MetricsRow::wall_seconds), 0.5);
  double MetricsRow::*parts[4] = {&MetricsRow::evaluation_seconds, &MetricsRow::imagination_seconds,
                                  &MetricsRow::training_seconds, &MetricsRow::gradient_seconds};
  for (int i = 0; i < 4; ++i) {
    std::vector<double> shares;
    for (const StudyRun* run : group.finished) {
      shares.push_back(run->metrics.back().*parts[i] / run->metrics.back().wall_seconds);
    }
    s.shares[i] = Quantile(shares, 0.5);
  }
  return s;
}

std::string ToTargetText(const GroupStats& s, double budget) {
  if (s.to_target.empty() || std::isnan(s.to_target_median)) return "-";
  return absl::StrCat(
      std::isinf(s.to_target_median) ? absl::StrCat("> ", budget) : Fmt(s.to_target_median, "%.0f"),
      " (", s.reached, " of ", s.to_target.size(), " reach)");
}

std::string RatioText(const GroupStats& s, double me_budget, bool csv) {
  if (std::isnan(s.to_target_median) || std::isnan(me_budget)) return csv ? "" : "-";
  if (std::isinf(s.to_target_median)) return csv ? "censored" : "< 1";
  return Fmt(me_budget / s.to_target_median, csv ? "%.4f" : "%.2f");
}

std::string TestText(const MannWhitney& t) {
  if (std::isnan(t.p)) return "-";
  return absl::StrFormat("U=%g p=%.4f%s", t.u, t.p, t.exact ? "" : " (normal)");
}

std::string SpreadText(const Spread& s, const char* format) {
  return absl::StrCat(Fmt(s.median, format), " [", Fmt(s.q1, format), ", ", Fmt(s.q3, format), "]");
}

std::vector<std::string> CsvRow(const std::string& task, const Group& g, const GroupStats& s,
                                double target, double me_budget) {
  std::vector<std::string> row = {task, g.label, absl::StrCat(g.finished.size()),
                                  absl::StrCat(g.planned), absl::StrCat(g.budget)};
  for (const Spread* spread : {&s.qd, &s.coverage, &s.fitness}) {
    for (double v : {spread->median, spread->q1, spread->q3}) row.push_back(Fmt(v, "%.4f"));
  }
  row.push_back(Fmt(target, "%.4f"));
  row.push_back(std::isinf(s.to_target_median) ? "censored" : Fmt(s.to_target_median, "%.0f"));
  row.push_back(absl::StrCat(s.reached));
  row.push_back(RatioText(s, me_budget, true));
  for (const MannWhitney* t : {&s.evals_test, &s.qd_test}) {
    row.push_back(std::isnan(t->p) ? "" : absl::StrFormat("%g", t->u));
    row.push_back(std::isnan(t->p) ? "" : absl::StrFormat("%.6f", t->p));
  }
  row.push_back(Fmt(s.imagined, "%.0f"));
  row.push_back(Fmt(s.wall, "%.1f"));
  for (double share : s.shares) row.push_back(Fmt(share, "%.4f"));
  row.push_back(Commits(g.finished));
  return row;
}

constexpr char kCsvHeader[] =
    "task,algorithm,seeds_finished,seeds_planned,budget,qd_score_pct_median,qd_score_pct_q1,"
    "qd_score_pct_q3,coverage_pct_median,coverage_pct_q1,coverage_pct_q3,max_fitness_median,"
    "max_fitness_q1,max_fitness_q3,target_qd_score_pct,evaluations_to_target_median,"
    "runs_reaching_target,me_budget_over_median,u_evaluations_to_target,p_evaluations_to_target,"
    "u_final_qd_score_pct,p_final_qd_score_pct,imagined_episodes_median,wall_seconds_median,"
    "evaluation_share,imagination_share,training_share,gradient_share,commits\n";

// Table 1 rows and the Figure 4 curves of one task.
absl::Status ReportTask(const std::string& out, const std::string& task,
                        const std::vector<StudyRun>& runs, Table& table, std::string& csv) {
  const std::vector<Group> groups = GroupsOf(runs, task);
  const Group* me = nullptr;
  for (const Group& g : groups) {
    if (g.label == "MAP_ELITES" && !g.finished.empty()) me = &g;
  }
  const double target = me == nullptr ? NAN : Final(me->finished, &MetricsRow::qd_score_pct).median;
  const double me_budget = me == nullptr ? NAN : static_cast<double>(me->budget);
  std::vector<client::Panel> panels = {{"QD-score %", {}}, {"coverage %", {}}, {"max fitness", {}}};
  double MetricsRow::*metrics[3] = {&MetricsRow::qd_score_pct, &MetricsRow::coverage_pct,
                                    &MetricsRow::max_fitness};
  for (const Group& g : groups) {
    const std::string seeds = absl::StrCat(g.finished.size(), " of ", g.planned);
    if (g.finished.empty()) {
      table.AddRow({task, g.label, seeds, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    const GroupStats s = Analyse(g, me, target);
    for (int i = 0; i < 3; ++i) {
      const Curve c = Aggregate(g.finished, metrics[i]);
      panels[i].series.push_back(
          {absl::StrCat(g.label, " (", g.finished.size(), ")"), c.x, c.median, c.q1, c.q3});
    }
    table.AddRow({task, g.label, seeds, SpreadText(s.qd, "%.1f"), SpreadText(s.coverage, "%.1f"),
                  SpreadText(s.fitness, "%.2f"), ToTargetText(s, static_cast<double>(g.budget)),
                  RatioText(s, me_budget, false), TestText(s.evals_test), TestText(s.qd_test),
                  Fmt(s.imagined, "%.0f"), Fmt(s.wall, "%.0f"),
                  absl::StrCat(Fmt(s.shares[0], "%.2f"), " / ", Fmt(s.shares[1], "%.2f"), " / ",
                               Fmt(s.shares[2], "%.2f"), " / ", Fmt(s.shares[3], "%.2f")),
                  Commits(g.finished)});
    absl::StrAppend(&csv, absl::StrJoin(CsvRow(task, g, s, target, me_budget), ","), "\n");
  }
  return client::WriteTextFile(
      absl::StrCat(out, "/progress_", task, ".svg"),
      client::RenderProgressSvg(
          absl::StrCat(task, " · median and inter-quartile range over finished seeds (n)"),
          "evaluations", panels));
}

// The per-run settings of the deep-RL rows, fixed by docs/reproduction/protocol.md, "Addendum 2 —
// the deep-RL rows", Settings (nothing else is tuned; the rest are the defaults of the commit that
// runs the grid). Every RL run: the actor of QDax's RL baselines, 256-256 ReLU.
constexpr int32_t kRlActorHiddenSizes[] = {256, 256};
constexpr char kRlActorHiddenActivation[] = "relu";
// SMERL's gate per task (rl.smerl_target, rl.smerl_margin, and rl.diversity_reward_scale where
// the addendum sets it; 0 = the default): point_maze gates at a return of -200 (the example's;
// staying at the start scores about -430), ant_trap follows QDax's AntTrap notebook, ant_maze
// gates at -17,500 (standing still 35 m from the goal for 500 steps).
struct SmerlGate {
  const char* task;
  float target;
  float margin;
  float diversity_reward_scale;
};
constexpr SmerlGate kSmerlGates[] = {
    {"point_maze", -150.0f, 50.0f, 0.0f},
    {"ant_trap", 800.0f, 800.0f, 2.0f},
    {"ant_maze", -16500.0f, 1000.0f, 0.0f},
};

// Sets addendum 2's per-run settings on an RL run's config. InvalidArgument for SMERL on a task
// without a gate in kSmerlGates.
absl::Status SetRlRowSettings(const StudyRun& run, ExperimentConfig& config) {
  config.mutable_budget()->set_max_env_steps(run.budget);
  gdaqd::v1::PolicyConfig& policy = *config.mutable_policy();
  for (int32_t size : kRlActorHiddenSizes) policy.add_hidden_sizes(size);
  policy.set_hidden_activation(kRlActorHiddenActivation);
  if (config.algorithm() != gdaqd::v1::SMERL) return absl::OkStatus();
  const SmerlGate* gate = nullptr;
  for (const SmerlGate& g : kSmerlGates) {
    if (run.task == g.task) gate = &g;
  }
  if (gate == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SMERL on ", run.task, ": the protocol's addendum 2 gives no smerl_target for this task"));
  }
  gdaqd::v1::RlConfig& rl = *config.mutable_rl();
  rl.set_smerl_target(gate->target);
  rl.set_smerl_margin(gate->margin);
  if (gate->diversity_reward_scale > 0) rl.set_diversity_reward_scale(gate->diversity_reward_scale);
  return absl::OkStatus();
}

}  // namespace

bool IsRlRun(const StudyRun& run) {
  gdaqd::v1::Algorithm algorithm;
  return gdaqd::v1::Algorithm_Parse(run.algorithm, &algorithm) && common::IsRlAlgorithm(algorithm);
}

std::string RunName(const StudyRun& run) {
  return absl::AsciiStrToLower(absl::StrCat(
      run.task, "_", run.algorithm, run.schedule.empty() ? "" : "_", run.schedule, "_s", run.seed));
}

std::string GroupLabel(const StudyRun& run) {
  return run.schedule.empty() ? run.algorithm : absl::StrCat(run.algorithm, "_", run.schedule);
}

absl::StatusOr<ExperimentConfig> StudyRunConfig(const StudyRun& run, const std::string& extra) {
  ExperimentConfig config;
  config.set_name(RunName(run));
  gdaqd::v1::Algorithm algorithm;
  if (!gdaqd::v1::Algorithm_Parse(run.algorithm, &algorithm)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown algorithm '", run.algorithm, "'"));
  }
  config.set_algorithm(algorithm);
  config.set_seed(run.seed);
  config.mutable_env()->set_task(run.task);
  if (IsRlRun(run)) {
    if (absl::Status s = SetRlRowSettings(run, config); !s.ok()) return s;
  } else {
    config.mutable_budget()->set_max_evaluations(run.budget);
  }
  if (!run.schedule.empty()) {
    gdaqd::v1::SchedulerConfig::LearningSchedule schedule;
    if (!gdaqd::v1::SchedulerConfig::LearningSchedule_Parse(run.schedule, &schedule)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown learning schedule '", run.schedule, "'"));
    }
    config.mutable_scheduler()->set_learning_schedule(schedule);
  }
  // Merging (not parsing one concatenated text) lets `extra` set fields of sections the base
  // already has; the parser's Merge allows a singular field to be set again.
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.MergeFromString(extra, &config)) {
    return absl::InvalidArgumentError(absl::StrCat("--config_extra: ", errors.text()));
  }
  common::ApplyDefaults(&config);
  if (absl::Status valid = common::ValidateExperimentConfig(config); !valid.ok()) return valid;
  return config;
}

std::string ReadRunCommit(const StudyRun& run) {
  return std::string(absl::StripAsciiWhitespace(ReadWhole(run.dir + "/commit.txt")));
}

absl::Status NoteRunCommit(const StudyRun& run, const std::string& commit) {
  if (commit.empty()) return absl::OkStatus();
  const std::string known = ReadRunCommit(run);
  const std::vector<std::string> seen = absl::StrSplit(known, ',', absl::SkipEmpty());
  if (std::find(seen.begin(), seen.end(), commit) != seen.end()) return absl::OkStatus();
  std::error_code ignored;
  std::filesystem::create_directories(run.dir, ignored);
  return client::WriteTextFile(run.dir + "/commit.txt",
                               absl::StrCat(known, known.empty() ? "" : ",", commit, "\n"));
}

namespace {
constexpr char kSittingsHeader[] = "started,ended,used_started,used_ended,beside\n";
constexpr char kSittingTime[] = "%Y-%m-%dT%H:%M:%SZ";
}  // namespace

absl::Status WriteSittings(const std::string& dir, const std::vector<Sitting>& sittings) {
  std::string text = kSittingsHeader;
  for (const Sitting& s : sittings) {
    absl::StrAppend(&text, absl::FormatTime(kSittingTime, s.started, absl::UTCTimeZone()), ",",
                    absl::FormatTime(kSittingTime, s.ended, absl::UTCTimeZone()), ",",
                    s.used_started, ",", s.used_ended, ",", absl::StrJoin(s.beside, " "), "\n");
  }
  return client::WriteTextFile(dir + "/" + kSittingsFile, text);
}

absl::StatusOr<std::vector<Sitting>> ReadSittings(const std::string& dir) {
  const std::string path = dir + "/" + kSittingsFile;
  std::vector<Sitting> sittings;
  if (!std::filesystem::exists(path)) return sittings;
  const std::vector<std::string> lines =
      absl::StrSplit(ReadWhole(path), '\n', absl::SkipWhitespace());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 0 && lines[i] + "\n" == kSittingsHeader) continue;
    const std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    Sitting s;
    std::string error;
    if (f.size() != 5 || !absl::ParseTime(kSittingTime, f[0], &s.started, &error) ||
        !absl::ParseTime(kSittingTime, f[1], &s.ended, &error) ||
        !absl::SimpleAtoi(f[2], &s.used_started) || !absl::SimpleAtoi(f[3], &s.used_ended)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " line ", i + 1, ": expected started,ended,used_started,used_ended,beside, got '",
          lines[i], "'"));
    }
    s.beside = absl::StrSplit(f[4], ' ', absl::SkipEmpty());
    sittings.push_back(std::move(s));
  }
  return sittings;
}

bool RanSideBySide(const StudyRun& a, const StudyRun& b) {
  if (a.sittings.empty() || b.sittings.empty()) return false;
  // Every sitting of x had no live run but y beside it, and the ones that began while y still
  // had sittings to come began with one of y's and had y beside them.
  auto beside_only = [](const StudyRun& x, const StudyRun& y) {
    const std::string y_name = RunName(y);
    const absl::Time y_end = y.sittings.back().ended;
    for (const Sitting& s : x.sittings) {
      for (const std::string& other : s.beside) {
        if (other != y_name) return false;
      }
      if (s.started >= y_end) continue;  // y had finished: x runs on alone
      const bool together =
          std::any_of(y.sittings.begin(), y.sittings.end(), [&](const Sitting& t) {
            return absl::AbsDuration(s.started - t.started) <= absl::Minutes(2);
          });
      if (!together || s.beside.empty()) return false;
    }
    return true;
  };
  return beside_only(a, b) && beside_only(b, a);
}

int ArmPartner(const std::vector<StudyRun>& runs, size_t i) {
  const StudyRun& run = runs[i];
  for (size_t j = 0; j < runs.size(); ++j) {
    const StudyRun& other = runs[j];
    if (j != i && other.task == run.task && other.algorithm == run.algorithm &&
        other.seed == run.seed && other.schedule.empty() != run.schedule.empty() &&
        !IsRlRun(other)) {
      return static_cast<int>(j);
    }
  }
  return -1;
}

Submissions PlanSubmissions(const std::vector<StudyRun>& runs, const std::vector<size_t>& queue,
                            const std::vector<size_t>& active, int parallel) {
  Submissions out;
  for (size_t a : active) {
    if (ArmPartner(runs, a) >= 0) return out;  // a pair runs alone
  }
  const auto queued = [&](size_t i) {
    return std::find(queue.begin(), queue.end(), i) != queue.end();
  };
  size_t free = parallel > 0 && static_cast<size_t>(parallel) > active.size()
                    ? static_cast<size_t>(parallel) - active.size()
                    : 0;
  for (size_t q : queue) {
    if (free == 0) break;
    const int partner = ArmPartner(runs, q);
    if (partner < 0) {
      out.submit.push_back(q);
      --free;
      continue;
    }
    if (runs[partner].finished) {  // its partner ran without it: it still runs alone
      if (!active.empty() || !out.submit.empty()) break;
      out.submit = {q};
      break;
    }
    if (!queued(static_cast<size_t>(partner)) || parallel < 2) {
      out.held.push_back(q);
      continue;
    }
    if (!active.empty() || !out.submit.empty()) break;  // the pair waits for an empty runner
    out.submit = {q, static_cast<size_t>(partner)};
    break;
  }
  return out;
}

RemainingWork EstimateRemaining(const std::vector<StudyRun>& runs,
                                const std::vector<int64_t>& used) {
  RemainingWork work;
  std::vector<std::string> unknown_groups;
  std::vector<int> unknown_counts;
  for (size_t i = 0; i < runs.size(); ++i) {
    const StudyRun& run = runs[i];
    if (run.finished) continue;
    ++work.unfinished;
    const std::string group = absl::StrCat(run.task, " ", GroupLabel(run));
    std::vector<double> walls;
    for (const StudyRun& done : runs) {
      if (done.finished && !done.metrics.empty() && done.task == run.task &&
          GroupLabel(done) == GroupLabel(run)) {
        walls.push_back(done.metrics.back().wall_seconds);
      }
    }
    if (walls.empty()) {
      auto at = std::find(unknown_groups.begin(), unknown_groups.end(), group);
      if (at == unknown_groups.end()) {
        unknown_groups.push_back(group);
        unknown_counts.push_back(1);
      } else {
        ++unknown_counts[at - unknown_groups.begin()];
      }
      continue;
    }
    const int64_t spent = i < used.size() ? std::clamp<int64_t>(used[i], 0, run.budget) : 0;
    ++work.estimated;
    work.run_seconds += Quantile(walls, 0.5) * static_cast<double>(run.budget - spent) /
                        static_cast<double>(run.budget);
  }
  for (size_t g = 0; g < unknown_groups.size(); ++g) {
    work.unknown.push_back(absl::StrCat(unknown_groups[g], " (", unknown_counts[g], ")"));
  }
  return work;
}

std::string FormatRemaining(const RemainingWork& work, int parallel) {
  if (work.unfinished == 0) return "remaining: none, every run has finished";
  std::string line = absl::StrCat("remaining: ", work.unfinished, " unfinished run",
                                  work.unfinished == 1 ? "" : "s");
  if (work.estimated > 0) {
    const double hours = work.run_seconds / 3600;
    absl::StrAppend(&line, absl::StrFormat("; %d with finished runs of their task and algorithm "
                                           "to go by: %.1f h of run time",
                                           work.estimated, hours));
    if (parallel > 1) {
      absl::StrAppend(&line, absl::StrFormat(" (%.1f h at %d side by side)", hours / parallel,
                                             parallel));
    }
  }
  if (!work.unknown.empty()) {
    absl::StrAppend(&line, "; none finished yet: ", absl::StrJoin(work.unknown, ", "));
  }
  return line;
}

int64_t BudgetUsed(const StudyRun& run, const gdaqd::v1::ProgressSnapshot& progress) {
  if (!IsRlRun(run)) return progress.evaluations();
  const std::optional<double> steps = client::ProgressMetric(progress, "env_steps");
  return steps.has_value() && std::isfinite(*steps) ? static_cast<int64_t>(*steps) : 0;
}

double RunEtaSeconds(int64_t budget, int64_t used, double wall_seconds, int64_t sitting_used,
                     double sitting_seconds) {
  // A run's first batches (random policies, short episodes, a coordinator still starting) say
  // little about the rest: 5 evaluations in a first 32 s once read as two days.
  if (used >= budget || used <= 0 || used * 20 < budget) return -1;
  const double left = static_cast<double>(budget - used);
  if (sitting_used > 0 && sitting_seconds >= 30) {
    return left * sitting_seconds / static_cast<double>(sitting_used);
  }
  if (wall_seconds > 0) return left * wall_seconds / static_cast<double>(used);
  return -1;
}

bool BudgetReached(const StudyRun& run, const gdaqd::v1::ProgressSnapshot& progress) {
  return IsRlRun(run) ? BudgetUsed(run, progress) >= run.budget
                      : progress.evaluations() == run.budget;
}

bool SameRun(const StudyRun& run, const ExperimentConfig& config) {
  const int64_t budget =
      IsRlRun(run) ? config.budget().max_env_steps() : config.budget().max_evaluations();
  return config.env().task() == run.task &&
         gdaqd::v1::Algorithm_Name(config.algorithm()) == run.algorithm &&
         static_cast<int64_t>(config.seed()) == run.seed && budget == run.budget;
}

std::vector<std::string> LiveExperimentWarnings(
    const std::vector<StudyRun>& runs, const std::vector<gdaqd::v1::ExperimentStatus>& experiments) {
  std::vector<std::string> warnings;
  for (const gdaqd::v1::ExperimentStatus& e : experiments) {
    if (e.state() == gdaqd::v1::SUCCEEDED || e.state() == gdaqd::v1::FAILED ||
        e.state() == gdaqd::v1::CANCELLED) {
      continue;
    }
    const auto run = std::find_if(runs.begin(), runs.end(), [&](const StudyRun& r) {
      return RunName(r) == e.config().name();
    });
    const std::string which = absl::StrCat(e.id(), " (", e.config().name(), ")");
    if (run == runs.end()) {
      warnings.push_back(absl::StrCat(
          which, " runs on the coordinator but not in this grid; it shares the workers"));
    } else if (run->finished) {
      warnings.push_back(absl::StrCat(
          which,
          " runs on the coordinator although that run has finished in this grid (e.g. "
          "checkpoints older than its results); it is not followed and shares the workers "
          "(`gdaqd cancel` ends it)"));
    } else if (!SameRun(*run, e.config())) {
      warnings.push_back(absl::StrCat(
          which,
          " runs on the coordinator with another task, algorithm, seed or budget than this "
          "grid's run; it is not followed and shares the workers (`gdaqd cancel` ends it)"));
    }
  }
  return warnings;
}

bool LoadFinishedRun(StudyRun& run) {
  gdaqd::v1::ExperimentStatus status;
  if (!google::protobuf::TextFormat::ParseFromString(ReadWhole(run.dir + "/status.textproto"),
                                                     &status) ||
      status.state() != gdaqd::v1::SUCCEEDED || !BudgetReached(run, status.progress())) {
    return false;
  }
  if (IsRlRun(run) && std::filesystem::exists(run.dir + "/config.textproto")) {
    ExperimentConfig config;
    if (!google::protobuf::TextFormat::ParseFromString(ReadWhole(run.dir + "/config.textproto"),
                                                       &config) ||
        config.budget().max_env_steps() != run.budget) {
      return false;
    }
  }
  absl::StatusOr<std::vector<MetricsRow>> metrics =
      client::ReadMetricsCsv(run.dir + "/metrics.csv");
  if (!metrics.ok() || metrics->empty()) return false;
  run.metrics = *std::move(metrics);
  run.commit = ReadRunCommit(run);
  absl::StatusOr<std::vector<Sitting>> sittings = ReadSittings(run.dir);
  run.sittings = sittings.ok() ? *std::move(sittings) : std::vector<Sitting>{};
  run.finished = true;
  return true;
}

}  // namespace gdaqd::bench

namespace gdaqd::bench {
namespace {

// The schedule arm (protocol, Analysis 4): each finished arm run against the main grid's run of
// the same task, algorithm and seed.
struct ArmPair {
  const StudyRun* arm;
  const StudyRun* base;
};

double SecondsPerIteration(const StudyRun& run) {
  const MetricsRow& last = run.metrics.back();
  return last.iteration > 0 ? last.wall_seconds / static_cast<double>(last.iteration) : NAN;
}

std::string ReportArm(const std::vector<StudyRun>& runs, std::string& csv) {
  std::vector<ArmPair> pairs;
  for (const StudyRun& arm : runs) {
    if (arm.schedule.empty() || !arm.finished || IsRlRun(arm)) continue;
    for (const StudyRun& base : runs) {
      if (base.schedule.empty() && base.finished && base.task == arm.task &&
          base.algorithm == arm.algorithm && base.seed == arm.seed) {
        pairs.push_back({&arm, &base});
      }
    }
  }
  csv =
      "task,arm,seed,final_qd_score_pct_base,final_qd_score_pct_arm,equal_wall_seconds,"
      "qd_score_pct_at_equal_wall_base,qd_score_pct_at_equal_wall_arm,"
      "wall_seconds_per_iteration_base,wall_seconds_per_iteration_arm,side_by_side\n";
  Table table({"task", "arm", "seed", "final QD % SYNCHRONOUS / arm", "side by side",
               "equal wall s", "QD % at equal wall SYNCHRONOUS / arm",
               "wall s per iteration SYNCHRONOUS / arm"});
  // Columns 0-1 compare at equal evaluations; 2-6 are wall-clock, whose medians take only the
  // pairs that ran side by side (protocol, amendment to Analysis 4).
  std::vector<double> columns[7];
  int side_by_side = 0;
  for (const ArmPair& p : pairs) {
    const double equal_wall =
        std::min(p.arm->metrics.back().wall_seconds, p.base->metrics.back().wall_seconds);
    const double values[7] = {
        p.base->metrics.back().qd_score_pct,
        p.arm->metrics.back().qd_score_pct,
        equal_wall,
        ValueAt(History(*p.base, &MetricsRow::qd_score_pct, true), equal_wall),
        ValueAt(History(*p.arm, &MetricsRow::qd_score_pct, true), equal_wall),
        SecondsPerIteration(*p.base),
        SecondsPerIteration(*p.arm)};
    const bool together = RanSideBySide(*p.arm, *p.base);
    side_by_side += together ? 1 : 0;
    std::vector<std::string> row = {p.arm->task, GroupLabel(*p.arm), absl::StrCat(p.arm->seed)};
    for (int i = 0; i < 7; ++i) {
      if (i < 2 || together) columns[i].push_back(values[i]);
      row.push_back(Fmt(values[i], "%.4f"));
    }
    row.push_back(together ? "yes" : "no");
    absl::StrAppend(&csv, absl::StrJoin(row, ","), "\n");
    table.AddRow({row[0], row[1], row[2], absl::StrCat(Fmt(values[0]), " / ", Fmt(values[1])),
                  row.back(), Fmt(values[2], "%.0f"),
                  absl::StrCat(Fmt(values[3]), " / ", Fmt(values[4])),
                  absl::StrCat(Fmt(values[5], "%.2f"), " / ", Fmt(values[6], "%.2f"))});
  }
  if (pairs.empty()) return "";
  double m[7];
  for (int i = 0; i < 7; ++i) m[i] = columns[i].empty() ? NAN : Quantile(columns[i], 0.5);
  auto pairs_text = [](size_t n) { return absl::StrCat(n, n == 1 ? " pair" : " pairs"); };
  table.AddRow({"", "median", pairs_text(pairs.size()),
                absl::StrCat(Fmt(m[0]), " / ", Fmt(m[1])), pairs_text(side_by_side),
                Fmt(m[2], "%.0f"), absl::StrCat(Fmt(m[3]), " / ", Fmt(m[4])),
                absl::StrCat(Fmt(m[5], "%.2f"), " / ", Fmt(m[6], "%.2f"))});
  return absl::StrCat(
      "\n## Schedule arm\n\nEach arm run against the main grid's run of the same task, algorithm "
      "and seed (SYNCHRONOUS). Equal evaluations: final QD-score % at the common budget. Side by "
      "side: the pair ran together in the same sittings with no third run beside them "
      "(sittings.csv; protocol, amendment to Analysis 4); the wall-clock columns' medians take "
      "only those pairs. Equal wall time: each run's QD-score % at the wall time the faster of "
      "the pair finished. Wall seconds per iteration: final wall seconds / final iteration "
      "(metrics.csv).\n\n",
      table.ToText());
}

constexpr char kNotes[] =
    "Table 1 from finished runs only (\"seeds\": finished of planned). Quantiles interpolate "
    "linearly between order statistics. Target: MAP-Elites' median final QD-score % of the task; "
    "evaluations to target: the first metrics row at or above it, a run that never reaches it "
    "censored at its budget (ranked above every run that reached it; a censored median is "
    "shown as \"> budget\"). ME budget / that: MAP-Elites' budget over the median. U, p: "
    "two-sided exact Mann-Whitney U test (mid-ranks for ties) of the method against MAP-Elites "
    "on evaluations to target and on final QD-score %; U counts pairs where the method's value "
    "is larger (+1/2 per tie), so a small U on evaluations means faster. Significant at p < 0.05 "
    "with no correction for the 18 comparisons; with 5 seeds per group the smallest p is 0.0079. "
    "Commits: those the runs ran at (\"-dirty\": with uncommitted changes to tracked files).\n\n";

// Table 1 (table1.csv, progress_<task>.svg) and the schedule arm (schedule_arm.csv) from the
// runs that are not RL runs: the notes, Table 1 and the arm section of results.md.
absl::StatusOr<std::string> ReportNsraWeight(const std::string& out, const std::string& task,
                                             const std::vector<StudyRun>& runs);

absl::StatusOr<std::string> ReportQd(const std::string& out, const std::vector<StudyRun>& runs) {
  Table table({"task", "algorithm", "seeds", "QD-score % median [q1, q3]",
               "coverage % median [q1, q3]", "max fitness median [q1, q3]",
               "evals to ME's median final QD %", "ME budget / that", "vs ME: evals to target",
               "vs ME: final QD %", "imagined episodes", "wall s median",
               "share eval / imag / train / grad", "commits"});
  std::string csv = kCsvHeader;
  std::vector<std::string> tasks;
  for (const StudyRun& run : runs) {
    if (!IsRlRun(run) && std::find(tasks.begin(), tasks.end(), run.task) == tasks.end()) {
      tasks.push_back(run.task);
    }
  }
  std::string nsra_md;
  for (const std::string& task : tasks) {
    if (absl::Status s = ReportTask(out, task, runs, table, csv); !s.ok()) return s;
    absl::StatusOr<std::string> nsra = ReportNsraWeight(out, task, runs);
    if (!nsra.ok()) return nsra.status();
    nsra_md += *nsra;
  }
  if (absl::Status s = client::WriteTextFile(out + "/table1.csv", csv); !s.ok()) return s;
  std::string arm_csv;
  const std::string arm_md = ReportArm(runs, arm_csv);
  if (absl::Status s = client::WriteTextFile(out + "/schedule_arm.csv", arm_csv); !s.ok()) {
    return s;
  }
  if (!nsra_md.empty()) {
    nsra_md = absl::StrCat(
        "\nNSRA-ES's reward weight w after each generation (u = w rank(reward) + (1 - w) "
        "rank(novelty)), one line per finished seed; descriptive (protocol, addendum 1):\n\n",
        nsra_md);
  }
  return absl::StrCat(kNotes, table.ToText(), arm_md, nsra_md);
}

// ---- The deep-RL rows (protocol, addendum 2, Analysis) ----

// A row's value of a fixed QD column or a named metric; NaN if it has none.
double RowValue(const MetricsRow& row, absl::string_view name) {
  if (name == "qd_score_pct") return row.qd_score_pct;
  if (name == "coverage_pct") return row.coverage_pct;
  return client::FindMetric(row, name).value_or(NAN);
}

// NSRA-ES's reward weight per generation, one line per finished seed, in
// nsra_weight_<task>.svg (protocol, addendum 1: descriptive). Returns the report's line for it,
// "" when the task has no finished NSRA-ES run.
absl::StatusOr<std::string> ReportNsraWeight(const std::string& out, const std::string& task,
                                             const std::vector<StudyRun>& runs) {
  client::Panel panel{"reward weight w", {}, true};
  for (const Group& g : GroupsOf(runs, task)) {
    if (g.label != "NSRA_ES") continue;
    for (const StudyRun* run : g.finished) {
      client::Series series{absl::StrCat("seed ", run->seed), {}, {}, {}, {}, /*steps=*/true};
      for (const MetricsRow& row : run->metrics) {
        series.x.push_back(RowValue(row, "es_generations"));
        series.y.push_back(RowValue(row, "es_reward_weight"));
      }
      panel.series.push_back(std::move(series));
    }
  }
  if (panel.series.empty()) return std::string();
  const std::string file = absl::StrCat("nsra_weight_", task, ".svg");
  const std::string svg = client::RenderProgressSvg(
      absl::StrCat(task, " · NSRA-ES, one line per seed"), "ES generations", {panel});
  if (absl::Status s = client::WriteTextFile(absl::StrCat(out, "/", file), svg); !s.ok()) return s;
  return absl::StrCat("- ", task, ": [", file, "](", file, ")\n");
}

std::vector<double> FinalValues(const std::vector<const StudyRun*>& runs, absl::string_view name) {
  std::vector<double> values;
  for (const StudyRun* run : runs) values.push_back(RowValue(run->metrics.back(), name));
  return values;
}

// A metric against env_steps, over the rows that have both.
std::vector<Point> StepsHistory(const StudyRun& run, absl::string_view name) {
  std::vector<Point> points;
  for (const MetricsRow& row : run.metrics) {
    const double steps = RowValue(row, "env_steps");
    if (std::isfinite(steps)) points.push_back({steps, RowValue(row, name)});
  }
  return points;
}

constexpr char kRlCsvHeader[] =
    "task,algorithm,seeds_finished,seeds_planned,budget_env_steps,max_eval_return_median,"
    "max_eval_return_min,max_eval_return_max,env_steps_median,qd_score_pct_median,"
    "coverage_pct_median,wall_seconds_median,commits\n";

constexpr char kRlNotes[] =
    "Deep-RL rows (docs/reproduction/protocol.md, addendum 2) from finished runs only "
    "(\"seeds\": finished of planned). Max total reward: each run's final max_eval_return, the "
    "best return of an evaluation episode (no exploration noise; DIAYN and SMERL: the best over "
    "skills); median, min and max over its seeds. Budget in environment steps, exploration and "
    "evaluation episodes alike; a run stops after the round that reaches it, so its env steps may "
    "pass it. Not part of Table 1's statistics and no statistical test: three seeds at a reduced "
    "budget describe the methods at this budget, and a sentence that ranks an RL method against a "
    "QD method names both budgets (MAP-Elites' median final max fitness: max_fitness_median in "
    "table1.csv of the main grid, docs/reproduction/study/, and of the ES grid, "
    "docs/reproduction/study-es/, at their evaluation budgets). QD-score % and coverage % of "
    "the archive of evaluation end points: for information only.\n\n";

// One task's RL rows (appended to `table` and `csv`) and its max_eval_return curves.
absl::Status ReportRlTask(const std::string& out, const std::string& task,
                          const std::vector<StudyRun>& runs, Table& table, std::string& csv) {
  std::vector<client::Panel> panels = {{"max total reward", {}}, {"QD-score % (information)", {}}};
  const char* metrics[2] = {"max_eval_return", "qd_score_pct"};
  for (const Group& g : GroupsOf(runs, task, /*rl=*/true)) {
    const std::string seeds = absl::StrCat(g.finished.size(), " of ", g.planned);
    if (g.finished.empty()) {
      table.AddRow({task, g.label, seeds, absl::StrCat(g.budget), "-", "-", "-", "-", "-", "-"});
      continue;
    }
    const MedianMinMax reward = MedianMinMaxOf(FinalValues(g.finished, "max_eval_return"));
    const double steps = Quantile(FinalValues(g.finished, "env_steps"), 0.5);
    const double qd = Quantile(FinalValues(g.finished, "qd_score_pct"), 0.5);
    const double coverage = Quantile(FinalValues(g.finished, "coverage_pct"), 0.5);
    const double wall = Quantile(FinalValues(g.finished, &MetricsRow::wall_seconds), 0.5);
    table.AddRow({task, g.label, seeds, absl::StrCat(g.budget),
                  absl::StrCat(Fmt(reward.median, "%.2f"), " / ", Fmt(reward.min, "%.2f"), " / ",
                               Fmt(reward.max, "%.2f")),
                  Fmt(steps, "%.0f"), Fmt(qd, "%.2f"), Fmt(coverage, "%.2f"), Fmt(wall, "%.0f"),
                  Commits(g.finished)});
    absl::StrAppend(
        &csv,
        absl::StrJoin({task, g.label, absl::StrCat(g.finished.size()), absl::StrCat(g.planned),
                       absl::StrCat(g.budget), Fmt(reward.median, "%.4f"), Fmt(reward.min, "%.4f"),
                       Fmt(reward.max, "%.4f"), Fmt(steps, "%.0f"), Fmt(qd, "%.4f"),
                       Fmt(coverage, "%.4f"), Fmt(wall, "%.1f"), Commits(g.finished)},
                      ","),
        "\n");
    for (int i = 0; i < 2; ++i) {
      std::vector<std::vector<Point>> histories;
      for (const StudyRun* run : g.finished) {
        std::vector<Point> history = StepsHistory(*run, metrics[i]);
        if (!history.empty()) histories.push_back(std::move(history));
      }
      if (histories.empty()) continue;
      const Curve c = Aggregate(histories);
      panels[i].series.push_back(
          {absl::StrCat(g.label, " (", histories.size(), ")"), c.x, c.median, c.q1, c.q3});
    }
  }
  return client::WriteTextFile(
      absl::StrCat(out, "/rl_progress_", task, ".svg"),
      client::RenderProgressSvg(
          absl::StrCat(task,
                       " · deep-RL rows · median and inter-quartile range over finished "
                       "seeds (n)"),
          "environment steps", panels));
}

// The section "Deep-RL rows (max total reward)" of results.md, "" without RL runs; writes
// rl_rows.csv and rl_progress_<task>.svg when there are.
// MAP-Elites of the other grids beside the RL rows of `tasks` (protocol, addendum 2, Analysis).
absl::StatusOr<std::string> ReportQdReferences(const std::string& out,
                                               const std::vector<std::string>& tasks,
                                               const std::vector<QdReference>& references) {
  Table table(
      {"task", "grid", "MAP-Elites seeds", "budget (evaluations)", "median final max fitness"});
  std::string csv = "task,grid,seeds,budget_evaluations,max_fitness_median\n";
  for (const QdReference& r : references) {
    if (std::find(tasks.begin(), tasks.end(), r.task) == tasks.end()) continue;
    const std::vector<std::string> row = {r.task, r.grid, absl::StrCat(r.seeds),
                                          absl::StrCat(r.budget),
                                          Fmt(r.max_fitness_median, "%.4f")};
    absl::StrAppend(&csv, absl::StrJoin(row, ","), "\n");
    table.AddRow({r.task, r.grid, row[2], row[3], Fmt(r.max_fitness_median, "%.2f")});
  }
  if (csv.find('\n') + 1 == csv.size()) return std::string();
  if (absl::Status s = client::WriteTextFile(out + "/rl_map_elites_reference.csv", csv); !s.ok()) {
    return s;
  }
  return absl::StrCat(
      "\nMAP-Elites beside them: its median final max fitness in the grids named, at their "
      "evaluation budgets (a sentence comparing it with an RL row names both budgets).\n\n",
      table.ToText());
}

absl::StatusOr<std::string> ReportRl(const std::string& out, const std::vector<StudyRun>& runs,
                                     const std::vector<QdReference>& references) {
  std::vector<std::string> tasks;
  for (const StudyRun& run : runs) {
    if (IsRlRun(run) && std::find(tasks.begin(), tasks.end(), run.task) == tasks.end()) {
      tasks.push_back(run.task);
    }
  }
  if (tasks.empty()) return std::string();
  Table table({"task", "method", "seeds", "budget (env steps)",
               "max total reward median / min / max", "env steps median",
               "QD-score % median (information)", "coverage % median (information)",
               "wall s median", "commits"});
  std::string csv = kRlCsvHeader;
  for (const std::string& task : tasks) {
    if (absl::Status s = ReportRlTask(out, task, runs, table, csv); !s.ok()) return s;
  }
  if (absl::Status s = client::WriteTextFile(out + "/rl_rows.csv", csv); !s.ok()) return s;
  absl::StatusOr<std::string> beside = ReportQdReferences(out, tasks, references);
  if (!beside.ok()) return beside.status();
  return absl::StrCat("\n## Deep-RL rows (max total reward)\n\n", kRlNotes, table.ToText(),
                      *beside);
}

}  // namespace

absl::StatusOr<std::string> WriteStudyReport(const std::string& out,
                                             const std::vector<StudyRun>& runs,
                                             const StudySetup& setup) {
  std::error_code ignored;
  std::filesystem::create_directories(out, ignored);
  const bool has_qd =
      std::any_of(runs.begin(), runs.end(), [](const StudyRun& run) { return !IsRlRun(run); });
  absl::StatusOr<std::string> qd_md = has_qd ? ReportQd(out, runs) : std::string();
  if (!qd_md.ok()) return qd_md.status();
  absl::StatusOr<std::string> rl_md = ReportRl(out, runs, setup.qd_references);
  if (!rl_md.ok()) return rl_md.status();
  const std::string md = absl::StrCat(
      "# Reproduction study: results so far\n\nmachine: ", MachineDescription(),
      "  \nreport written: ", NowUtc(), "  \nseeds: ", setup.seeds,
      has_qd ? absl::StrCat("  \nbudgets (evaluations): ", setup.budgets) : std::string(),
      rl_md->empty() ? std::string()
                     : absl::StrCat("  \nbudgets (environment steps): ", setup.rl_budgets),
      "  \nsettings: the defaults of the commit each run ran at",
      setup.config_extra.empty() ? std::string() : absl::StrCat(" with `", setup.config_extra, "`"),
      "  \nexperiments side by side: ", setup.parallel, " (sharing ", setup.workers,
      " worker processes)\n\n", *qd_md, has_qd ? *rl_md : absl::StripPrefix(*rl_md, "\n"));
  if (absl::Status s = client::WriteTextFile(out + "/results.md", md); !s.ok()) return s;
  return md;
}

}  // namespace gdaqd::bench
