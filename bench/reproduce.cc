// The reproduction study of issue 4 (the paper's Table 1 and Figure 4 at a budget this machine
// can afford): MAP_ELITES, PGA_ME, DA_QD_EXT and GDA_QD on each task with several seeds at the
// same evaluation budget and DESIGN.md §5's defaults, through the real system (gdaqd-server and
// gdaqd-worker processes on loopback). Writes into --out:
//   table1.csv          per task and algorithm: median (and quartiles) of final QD-score %,
//                       coverage % and max fitness over seeds; evaluations to reach MAP-Elites'
//                       final median QD-score; wall-time shares
//   progress_<task>.svg median and inter-quartile band of QD-score %, coverage % and max fitness
//                       against evaluations (Figure 4)
//   results.md          the table and the set-up (budgets, seeds, machine, date) as Markdown
//   runs/<task>_<algorithm>_s<seed>/  each run's results folder without archive_params.npy
// A run whose folder already holds a SUCCEEDED status.textproto is loaded, not re-run, so an
// interrupted study resumes where it stopped.
//
//   build/bench/bench_reproduce --out docs/reproduction [--tasks point_maze,ant_trap]
//       [--seeds 0,1,2] [--budgets point_maze=3000,ant_trap=4000] [--parallel 2]
//       [--config_extra "model { retrain_every: 5 }"]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/experiment_client.h"
#include "client/local_cluster.h"
#include "client/results/csv.h"
#include "client/results/svg_plots.h"
#include "client/results_folder.h"
#include "common/config/config.h"
#include "google/protobuf/text_format.h"

ABSL_FLAG(std::string, out, "reproduction", "output directory");
ABSL_FLAG(std::string, tasks, "point_maze,ant_trap", "tasks");
ABSL_FLAG(std::string, algorithms, "MAP_ELITES,PGA_ME,DA_QD_EXT,GDA_QD", "algorithms");
ABSL_FLAG(std::string, seeds, "0,1,2", "seeds");
ABSL_FLAG(std::string, budgets, "point_maze=3000,ant_trap=4000",
          "evaluation budget per task, task=N,...");
ABSL_FLAG(std::string, config_extra, "",
          "text-format fields merged into every config (e.g. \"model { retrain_every: 5 }\"; "
          "fields of an algorithm's unused sections are ignored), for ablations");
ABSL_FLAG(int, parallel, 2, "experiments run at the same time (they share the workers)");
ABSL_FLAG(int, workers, 2, "worker processes");

namespace gdaqd::bench {
namespace {

struct Run {
  std::string task, algorithm;
  int64_t seed = 0;
  int64_t budget = 0;
  std::string dir;
  std::string id;  // while running
  std::vector<client::MetricsRow> metrics;
  double wall_seconds = 0;
};

bool IsFinal(gdaqd::v1::ExperimentState state) {
  return state == gdaqd::v1::SUCCEEDED || state == gdaqd::v1::FAILED ||
         state == gdaqd::v1::CANCELLED;
}

std::string RunName(const Run& run) {
  return absl::StrCat(run.task, "_", absl::AsciiStrToLower(run.algorithm), "_s", run.seed);
}

// A finished run's metrics if its folder says SUCCEEDED.
bool LoadFinished(Run& run) {
  std::ifstream status_file(run.dir + "/status.textproto");
  if (!status_file) return false;
  std::stringstream text;
  text << status_file.rdbuf();
  gdaqd::v1::ExperimentStatus status;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &status) ||
      status.state() != gdaqd::v1::SUCCEEDED || status.progress().evaluations() != run.budget) {
    return false;
  }
  absl::StatusOr<std::vector<client::MetricsRow>> metrics =
      client::ReadMetricsCsv(run.dir + "/metrics.csv");
  if (!metrics.ok() || metrics->empty()) return false;
  run.metrics = *std::move(metrics);
  run.wall_seconds = run.metrics.back().wall_seconds;
  return true;
}

double Quantile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }),
          v.end());
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Median and quartiles over seeds of metric(row) at every evaluation count all runs share.
struct Curve {
  std::vector<double> x, median, q1, q3;
};
Curve Aggregate(const std::vector<const Run*>& runs, double client::MetricsRow::*metric) {
  Curve curve;
  if (runs.empty()) return curve;
  std::map<int64_t, std::vector<double>> by_evals;
  for (const Run* run : runs) {
    for (const client::MetricsRow& row : run->metrics) by_evals[row.evaluations].push_back(row.*metric);
  }
  for (const auto& [evals, values] : by_evals) {
    if (values.size() != runs.size()) continue;
    curve.x.push_back(static_cast<double>(evals));
    curve.median.push_back(Quantile(values, 0.5));
    curve.q1.push_back(Quantile(values, 0.25));
    curve.q3.push_back(Quantile(values, 0.75));
  }
  return curve;
}

std::string Fmt(double v, const char* format = "%.1f") {
  return std::isfinite(v) ? absl::StrFormat(format, v) : "-";
}

int Main() {
  const std::string out = absl::GetFlag(FLAGS_out);
  std::filesystem::create_directories(out + "/runs");
  std::map<std::string, int64_t> budgets;
  for (absl::string_view item : absl::StrSplit(absl::GetFlag(FLAGS_budgets), ',')) {
    std::vector<std::string> kv = absl::StrSplit(item, '=');
    int64_t n = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &n) || n < 1) {
      std::fprintf(stderr, "error: --budgets entry '%s' is not task=N\n", std::string(item).c_str());
      return 1;
    }
    budgets[kv[0]] = n;
  }
  const std::vector<std::string> tasks = absl::StrSplit(absl::GetFlag(FLAGS_tasks), ',');
  const std::vector<std::string> algorithms = absl::StrSplit(absl::GetFlag(FLAGS_algorithms), ',');
  std::vector<int64_t> seeds;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_seeds), ',')) {
    int64_t seed = 0;
    if (!absl::SimpleAtoi(s, &seed)) {
      std::fprintf(stderr, "error: --seeds has '%s'\n", std::string(s).c_str());
      return 1;
    }
    seeds.push_back(seed);
  }

  std::vector<Run> runs;
  for (const std::string& task : tasks) {
    if (!budgets.count(task)) {
      std::fprintf(stderr, "error: --budgets has no entry for %s\n", task.c_str());
      return 1;
    }
    for (const std::string& algorithm : algorithms) {
      for (int64_t seed : seeds) {
        Run run;
        run.task = task;
        run.algorithm = algorithm;
        run.seed = seed;
        run.budget = budgets[task];
        run.dir = absl::StrCat(out, "/runs/", RunName(run));
        runs.push_back(std::move(run));
      }
    }
  }
  std::deque<Run*> pending;
  for (Run& run : runs) {
    if (LoadFinished(run)) {
      std::fprintf(stderr, "%s: loaded (%.0f s)\n", RunName(run).c_str(), run.wall_seconds);
    } else {
      pending.push_back(&run);
    }
  }

  const int parallel = std::max(1, absl::GetFlag(FLAGS_parallel));
  if (!pending.empty()) {
    // Experiments running side by side share the 2 cores with the workers: keep OpenBLAS to one
    // thread in the coordinator so they do not oversubscribe (the server inherits this).
    if (parallel > 1) setenv("OPENBLAS_NUM_THREADS", "1", 1);
    client::LocalClusterOptions options;
    options.workers = absl::GetFlag(FLAGS_workers);
    options.server_binary = GDAQD_SERVER_BINARY;
    options.worker_binary = GDAQD_WORKER_BINARY;
    options.log_dir = out + "/logs";
    auto cluster = client::LocalCluster::Start(options);
    if (!cluster.ok()) {
      std::fprintf(stderr, "error: %s\n", cluster.status().ToString().c_str());
      return 1;
    }
    auto client = client::ExperimentClient::Connect((*cluster)->address(), absl::Seconds(20));
    if (!client.ok()) {
      std::fprintf(stderr, "error: %s\n", client.status().ToString().c_str());
      return 1;
    }
    std::vector<Run*> running;
    while (!pending.empty() || !running.empty()) {
      while (static_cast<int>(running.size()) < parallel && !pending.empty()) {
        Run* run = pending.front();
        pending.pop_front();
        auto config = common::ParseExperimentConfig(absl::StrCat(
            "name: \"", RunName(*run), "\" algorithm: ", run->algorithm, " seed: ", run->seed,
            " env { task: \"", run->task, "\" } budget { max_evaluations: ", run->budget, " } ",
            absl::GetFlag(FLAGS_config_extra)));
        if (!config.ok()) {
          std::fprintf(stderr, "error: %s\n", config.status().ToString().c_str());
          return 1;
        }
        auto id = (*client)->Submit(*config);
        if (!id.ok()) {
          std::fprintf(stderr, "error: %s\n", id.status().ToString().c_str());
          return 1;
        }
        run->id = *id;
        running.push_back(run);
        std::fprintf(stderr, "%s: started as %s\n", RunName(*run).c_str(), id->c_str());
      }
      absl::SleepFor(absl::Seconds(2));
      for (auto it = running.begin(); it != running.end();) {
        Run* run = *it;
        auto status = (*client)->Get(run->id);
        if (!status.ok()) {
          std::fprintf(stderr, "error: %s\n", status.status().ToString().c_str());
          return 1;
        }
        if (!IsFinal(status->state())) {
          ++it;
          continue;
        }
        if (status->state() != gdaqd::v1::SUCCEEDED) {
          std::fprintf(stderr, "error: %s ended %s: %s\n", RunName(*run).c_str(),
                       gdaqd::v1::ExperimentState_Name(status->state()).c_str(),
                       status->error().c_str());
          return 1;
        }
        auto exported = (*client)->Export(run->id);
        absl::Status written = exported.ok() ? client::WriteResultsFolder(run->dir, *exported)
                                             : exported.status();
        if (!written.ok()) {
          std::fprintf(stderr, "error: %s: %s\n", RunName(*run).c_str(),
                       written.ToString().c_str());
          return 1;
        }
        std::filesystem::remove(run->dir + "/archive_params.npy");  // tens of MB per run
        if (!LoadFinished(*run)) {
          std::fprintf(stderr, "error: %s: cannot read back its results\n", RunName(*run).c_str());
          return 1;
        }
        const gdaqd::v1::ProgressSnapshot& p = status->progress();
        std::fprintf(stderr, "%s: done in %.0f s, QD %.1f%%, coverage %.1f%%, max %.2f\n",
                     RunName(*run).c_str(), p.wall_seconds(), p.qd_score_pct(), p.coverage_pct(),
                     p.max_fitness());
        it = running.erase(it);
      }
    }
  }

  // Table 1 and Figure 4.
  Table table({"task", "algorithm", "seeds", "evaluations", "QD-score % median [q1, q3]",
               "coverage % median", "max fitness median", "evals to ME's final QD-score",
               "ME budget / that", "imagined episodes", "wall s median",
               "share eval / imag / train / grad"});
  std::ofstream csv(out + "/table1.csv");
  csv << "task,algorithm,seeds,evaluations,qd_score_pct_median,qd_score_pct_q1,qd_score_pct_q3,"
         "coverage_pct_median,coverage_pct_q1,coverage_pct_q3,max_fitness_median,"
         "max_fitness_q1,max_fitness_q3,evaluations_to_me_final_qd,imagined_episodes_median,"
         "wall_seconds_median,evaluation_share,imagination_share,training_share,gradient_share\n";
  for (const std::string& task : tasks) {
    std::map<std::string, std::vector<const Run*>> by_algorithm;
    for (const Run& run : runs) {
      if (run.task == task) by_algorithm[run.algorithm].push_back(&run);
    }
    const Curve me_qd = Aggregate(by_algorithm["MAP_ELITES"], &client::MetricsRow::qd_score_pct);
    const double me_final = me_qd.median.empty() ? std::nan("") : me_qd.median.back();
    std::vector<client::Panel> panels = {
        {"QD-score %", {}}, {"coverage %", {}}, {"max fitness", {}}};
    for (const std::string& algorithm : algorithms) {
      const std::vector<const Run*>& group = by_algorithm[algorithm];
      const Curve qd = Aggregate(group, &client::MetricsRow::qd_score_pct);
      const Curve cov = Aggregate(group, &client::MetricsRow::coverage_pct);
      const Curve fit = Aggregate(group, &client::MetricsRow::max_fitness);
      if (qd.x.empty()) continue;
      panels[0].series.push_back({algorithm, qd.x, qd.median, qd.q1, qd.q3});
      panels[1].series.push_back({algorithm, cov.x, cov.median, cov.q1, cov.q3});
      panels[2].series.push_back({algorithm, fit.x, fit.median, fit.q1, fit.q3});
      double reach = std::nan("");
      for (size_t i = 0; i < qd.x.size(); ++i) {
        if (std::isfinite(me_final) && qd.median[i] >= me_final) {
          reach = qd.x[i];
          break;
        }
      }
      std::vector<double> imagined, wall, eval_share, imag_share, train_share, grad_share;
      for (const Run* run : group) {
        const client::MetricsRow& last = run->metrics.back();
        imagined.push_back(static_cast<double>(last.imagined_evaluations));
        wall.push_back(last.wall_seconds);
        eval_share.push_back(last.evaluation_seconds / last.wall_seconds);
        imag_share.push_back(last.imagination_seconds / last.wall_seconds);
        train_share.push_back(last.training_seconds / last.wall_seconds);
        grad_share.push_back(last.gradient_seconds / last.wall_seconds);
      }
      const double budget = qd.x.back();
      table.AddRow({task, algorithm, absl::StrCat(group.size()), absl::StrCat(budget),
                    absl::StrCat(Fmt(qd.median.back()), " [", Fmt(qd.q1.back()), ", ",
                                 Fmt(qd.q3.back()), "]"),
                    Fmt(cov.median.back()), Fmt(fit.median.back(), "%.2f"),
                    Fmt(reach, "%.0f"), Fmt(budget / reach, "%.2f"),
                    Fmt(Quantile(imagined, 0.5), "%.0f"), Fmt(Quantile(wall, 0.5), "%.0f"),
                    absl::StrCat(Fmt(Quantile(eval_share, 0.5), "%.2f"), " / ",
                                 Fmt(Quantile(imag_share, 0.5), "%.2f"), " / ",
                                 Fmt(Quantile(train_share, 0.5), "%.2f"), " / ",
                                 Fmt(Quantile(grad_share, 0.5), "%.2f"))});
      csv << absl::StrJoin(
                 std::vector<std::string>{
                     task, algorithm, absl::StrCat(group.size()), absl::StrCat(budget),
                     Fmt(qd.median.back(), "%.4f"), Fmt(qd.q1.back(), "%.4f"),
                     Fmt(qd.q3.back(), "%.4f"), Fmt(cov.median.back(), "%.4f"),
                     Fmt(cov.q1.back(), "%.4f"), Fmt(cov.q3.back(), "%.4f"),
                     Fmt(fit.median.back(), "%.4f"), Fmt(fit.q1.back(), "%.4f"),
                     Fmt(fit.q3.back(), "%.4f"), Fmt(reach, "%.0f"),
                     Fmt(Quantile(imagined, 0.5), "%.0f"), Fmt(Quantile(wall, 0.5), "%.1f"),
                     Fmt(Quantile(eval_share, 0.5), "%.4f"), Fmt(Quantile(imag_share, 0.5), "%.4f"),
                     Fmt(Quantile(train_share, 0.5), "%.4f"),
                     Fmt(Quantile(grad_share, 0.5), "%.4f")},
                 ",")
          << "\n";
    }
    absl::Status svg = client::WriteTextFile(
        absl::StrCat(out, "/progress_", task, ".svg"),
        client::RenderProgressSvg(
            absl::StrCat(task, " · median and inter-quartile range over ", seeds.size(), " seeds"),
            "evaluations", panels));
    if (!svg.ok()) {
      std::fprintf(stderr, "error: %s\n", svg.ToString().c_str());
      return 1;
    }
  }
  std::string budgets_text;
  for (const auto& [task, n] : budgets) absl::StrAppend(&budgets_text, task, " ", n, ", ");
  const std::string md = absl::StrCat(
      "machine: ", MachineDescription(), "  \ndate: ", NowUtc(), "  \nseeds: ",
      absl::GetFlag(FLAGS_seeds), "  \nbudgets (evaluations): ", budgets_text,
      "batch 100, DESIGN.md §5 defaults",
      absl::GetFlag(FLAGS_config_extra).empty()
          ? std::string()
          : absl::StrCat(" with `", absl::GetFlag(FLAGS_config_extra), "`"),
      "  \nexperiments side by side: ", parallel,
      " (sharing ", absl::GetFlag(FLAGS_workers), " worker processes)\n\n", table.ToText());
  std::ofstream(out + "/results.md") << md;
  std::printf("%s", md.c_str());
  return 0;
}

}  // namespace
}  // namespace gdaqd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gdaqd::bench::Main();
}
