#include "client/results/comparison.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "client/results/svg_plots.h"

namespace gdaqd::client {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Fmt(double value, const char* format) {
  return std::isfinite(value) ? absl::StrFormat(format, value) : "-";
}

double Last(const std::vector<double>& values) { return values.empty() ? kNaN : values.back(); }

// Medians over runs of their last row's imagined episodes, wall time and time shares.
void SummarizeLastRows(absl::Span<const ComparedRun* const> runs, GroupSummary* group) {
  std::vector<double> imagined, wall, evaluation, imagination, training, gradient;
  for (const ComparedRun* run : runs) {
    const MetricsRow& last = run->metrics.back();
    // By metric name: 0 for a run whose algorithm does not report it.
    const auto metric = [&](absl::string_view name) { return FindMetric(last, name).value_or(0); };
    imagined.push_back(metric("imagined_evaluations"));
    wall.push_back(last.wall_seconds);
    if (last.wall_seconds > 0) {
      evaluation.push_back(metric("evaluation_seconds") / last.wall_seconds);
      imagination.push_back(metric("imagination_seconds") / last.wall_seconds);
      training.push_back(metric("training_seconds") / last.wall_seconds);
      gradient.push_back(metric("gradient_seconds") / last.wall_seconds);
    }
  }
  group->imagined_median = Quantile(imagined, 0.5);
  group->wall_seconds_median = Quantile(wall, 0.5);
  group->evaluation_share = Quantile(evaluation, 0.5);
  group->imagination_share = Quantile(imagination, 0.5);
  group->training_share = Quantile(training, 0.5);
  group->gradient_share = Quantile(gradient, 0.5);
}

// Fills evaluations_to_me_final_qd of every group from its task's MAP_ELITES group.
void FillEvaluationsToMapElites(std::vector<GroupSummary>* groups) {
  for (GroupSummary& group : *groups) {
    group.evaluations_to_me_final_qd = kNaN;
    double me_final = kNaN;
    for (const GroupSummary& other : *groups) {
      if (other.task == group.task && other.algorithm == "MAP_ELITES") me_final = other.qd_median;
    }
    if (!std::isfinite(me_final)) continue;
    for (size_t i = 0; i < group.qd_score_pct.x.size(); ++i) {
      if (group.qd_score_pct.median[i] >= me_final) {
        group.evaluations_to_me_final_qd = group.qd_score_pct.x[i];
        break;
      }
    }
  }
}

// `task` made safe as part of a file name.
std::string FileSafe(const std::string& task) {
  std::string safe = task;
  for (char& c : safe) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  }
  return safe;
}

}  // namespace

double Quantile(std::vector<double> values, double q) {
  values.erase(
      std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }),
      values.end());
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const size_t low = static_cast<size_t>(std::floor(position));
  const size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (position - static_cast<double>(low)) * (values[high] - values[low]);
}

Curve AggregateCurve(absl::Span<const ComparedRun* const> runs, double MetricsRow::*metric) {
  Curve curve;
  std::map<int64_t, std::vector<double>> by_evaluations;
  for (const ComparedRun* run : runs) {
    for (const MetricsRow& row : run->metrics)
      by_evaluations[row.evaluations].push_back(row.*metric);
  }
  for (const auto& [evaluations, values] : by_evaluations) {
    if (values.size() != runs.size()) continue;  // not logged by every run
    curve.x.push_back(static_cast<double>(evaluations));
    curve.median.push_back(Quantile(values, 0.5));
    curve.q1.push_back(Quantile(values, 0.25));
    curve.q3.push_back(Quantile(values, 0.75));
  }
  return curve;
}

absl::StatusOr<std::vector<GroupSummary>> Summarize(absl::Span<const ComparedRun> runs) {
  std::vector<std::pair<std::string, std::string>> keys;
  std::map<std::pair<std::string, std::string>, std::vector<const ComparedRun*>> members;
  for (const ComparedRun& run : runs) {
    if (run.metrics.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(run.name, ": metrics.csv has no rows"));
    }
    const auto key = std::make_pair(run.task, run.algorithm);
    if (members[key].empty()) keys.push_back(key);
    members[key].push_back(&run);
  }
  std::vector<GroupSummary> groups;
  for (const auto& key : keys) {
    const std::vector<const ComparedRun*>& group_runs = members[key];
    GroupSummary& group = groups.emplace_back();
    group.task = key.first;
    group.algorithm = key.second;
    group.runs = static_cast<int>(group_runs.size());
    group.qd_score_pct = AggregateCurve(group_runs, &MetricsRow::qd_score_pct);
    group.coverage_pct = AggregateCurve(group_runs, &MetricsRow::coverage_pct);
    group.max_fitness = AggregateCurve(group_runs, &MetricsRow::max_fitness);
    if (group.qd_score_pct.x.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(group.task, " ", group.algorithm, ": its ", group.runs,
                       " runs share no evaluation count (different budgets or logging?)"));
    }
    group.evaluations = group.qd_score_pct.x.back();
    group.qd_median = Last(group.qd_score_pct.median);
    group.qd_q1 = Last(group.qd_score_pct.q1);
    group.qd_q3 = Last(group.qd_score_pct.q3);
    group.coverage_median = Last(group.coverage_pct.median);
    group.coverage_q1 = Last(group.coverage_pct.q1);
    group.coverage_q3 = Last(group.coverage_pct.q3);
    group.max_fitness_median = Last(group.max_fitness.median);
    group.max_fitness_q1 = Last(group.max_fitness.q1);
    group.max_fitness_q3 = Last(group.max_fitness.q3);
    SummarizeLastRows(group_runs, &group);
  }
  FillEvaluationsToMapElites(&groups);
  return groups;
}

std::string SummaryCsv(absl::Span<const GroupSummary> groups) {
  std::string csv =
      "task,algorithm,seeds,evaluations,qd_score_pct_median,qd_score_pct_q1,qd_score_pct_q3,"
      "coverage_pct_median,coverage_pct_q1,coverage_pct_q3,max_fitness_median,max_fitness_q1,"
      "max_fitness_q3,evaluations_to_me_final_qd,imagined_episodes_median,wall_seconds_median,"
      "evaluation_share,imagination_share,training_share,gradient_share\n";
  for (const GroupSummary& g : groups) {
    const std::vector<std::string> fields = {g.task,
                                             g.algorithm,
                                             absl::StrCat(g.runs),
                                             Fmt(g.evaluations, "%.0f"),
                                             Fmt(g.qd_median, "%.4f"),
                                             Fmt(g.qd_q1, "%.4f"),
                                             Fmt(g.qd_q3, "%.4f"),
                                             Fmt(g.coverage_median, "%.4f"),
                                             Fmt(g.coverage_q1, "%.4f"),
                                             Fmt(g.coverage_q3, "%.4f"),
                                             Fmt(g.max_fitness_median, "%.4f"),
                                             Fmt(g.max_fitness_q1, "%.4f"),
                                             Fmt(g.max_fitness_q3, "%.4f"),
                                             Fmt(g.evaluations_to_me_final_qd, "%.0f"),
                                             Fmt(g.imagined_median, "%.0f"),
                                             Fmt(g.wall_seconds_median, "%.1f"),
                                             Fmt(g.evaluation_share, "%.4f"),
                                             Fmt(g.imagination_share, "%.4f"),
                                             Fmt(g.training_share, "%.4f"),
                                             Fmt(g.gradient_share, "%.4f")};
    absl::StrAppend(&csv, absl::StrJoin(fields, ","), "\n");
  }
  return csv;
}

std::string SummaryMarkdown(absl::Span<const GroupSummary> groups) {
  std::string md =
      "| task | algorithm | seeds | evaluations | QD-score % median [q1, q3] | coverage % "
      "median [q1, q3] | max fitness median [q1, q3] | evals to ME's final QD-score | "
      "imagined episodes | wall s |\n"
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const GroupSummary& g : groups) {
    absl::StrAppend(
        &md, "| ", g.task, " | ", g.algorithm, " | ", g.runs, " | ", Fmt(g.evaluations, "%.0f"),
        " | ", Fmt(g.qd_median, "%.1f"), " [", Fmt(g.qd_q1, "%.1f"), ", ", Fmt(g.qd_q3, "%.1f"),
        "] | ", Fmt(g.coverage_median, "%.1f"), " [", Fmt(g.coverage_q1, "%.1f"), ", ",
        Fmt(g.coverage_q3, "%.1f"), "] | ", Fmt(g.max_fitness_median, "%.2f"), " [",
        Fmt(g.max_fitness_q1, "%.2f"), ", ", Fmt(g.max_fitness_q3, "%.2f"), "] | ",
        Fmt(g.evaluations_to_me_final_qd, "%.0f"), " | ", Fmt(g.imagined_median, "%.0f"), " | ",
        Fmt(g.wall_seconds_median, "%.0f"), " |\n");
  }
  return md;
}

absl::Status WriteComparison(const std::string& out_dir, absl::Span<const ComparedRun> runs) {
  absl::StatusOr<std::vector<GroupSummary>> groups = Summarize(runs);
  if (!groups.ok()) return groups.status();
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", out_dir, ": ", error.message()));
  }
  const std::filesystem::path dir(out_dir);
  if (absl::Status s = WriteTextFile((dir / "table1.csv").string(), SummaryCsv(*groups)); !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteTextFile((dir / "table1.md").string(), SummaryMarkdown(*groups));
      !s.ok()) {
    return s;
  }
  std::vector<std::string> tasks;
  for (const GroupSummary& g : *groups) {
    if (std::find(tasks.begin(), tasks.end(), g.task) == tasks.end()) tasks.push_back(g.task);
  }
  for (const std::string& task : tasks) {
    std::vector<Panel> panels = {
        {"QD-score %", {}, true}, {"coverage %", {}, true}, {"max fitness", {}, false}};
    int most_runs = 0;
    for (const GroupSummary& g : *groups) {
      if (g.task != task) continue;
      most_runs = std::max(most_runs, g.runs);
      const Curve* curves[] = {&g.qd_score_pct, &g.coverage_pct, &g.max_fitness};
      for (size_t p = 0; p < panels.size(); ++p) {
        Series series{g.algorithm, curves[p]->x, curves[p]->median, curves[p]->q1, curves[p]->q3};
        if (p < 2 && !series.x.empty() && series.x.front() > 0) {
          // Every run starts from an empty archive: 0 % at 0 evaluations.
          for (std::vector<double>* v : {&series.y, &series.y_low, &series.y_high}) {
            v->insert(v->begin(), 0.0);
          }
          series.x.insert(series.x.begin(), 0.0);
        }
        series.steps = p == 2;  // a median of running maxima is a running maximum too
        panels[p].series.push_back(std::move(series));
      }
    }
    const std::string title =
        absl::StrCat(task, " · median and inter-quartile range over up to ", most_runs, " seeds");
    if (absl::Status s =
            WriteTextFile((dir / absl::StrCat("progress_", FileSafe(task), ".svg")).string(),
                          RenderProgressSvg(title, "evaluations", panels));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace gdaqd::client
