#include "client/results_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "client/full_text_format.h"
#include "client/progress.h"
#include "client/results/atomic_file.h"
#include "client/results/svg_plots.h"
#include "common/ant_tasks.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/point_maze.h"
#include "common/status_macros.h"
#include "common/task.h"
#include "google/protobuf/text_format.h"

namespace gdaqd::client {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

std::string Join(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

// The label the algorithm registry gives (common/config/algorithm_rules.h).
std::string AlgorithmLabel(gdaqd::v1::Algorithm algorithm) {
  const common::AlgorithmRules* rules = common::FindAlgorithmRules(algorithm);
  return rules == nullptr ? "unknown algorithm" : rules->label;
}

// True for the names a results folder (and `gdaqd run`'s logs and state) is made of.
bool IsResultsFolderFile(const std::string& name) {
  static constexpr const char* kNames[] = {
      "config.textproto",   "status.textproto", "provenance.json", "metrics.csv", "archive.csv",
      "archive_params.npy", "archive.svg",      "progress.svg",    "logs",        "state"};
  for (const char* known : kNames) {
    if (name == known) return true;
  }
  return absl::StartsWith(name, "trajectory_") && absl::EndsWith(name, ".csv");
}

// What the descriptor axes mean and where the task starts and ends, for the archive picture.
// Every task of common/ describes an episode by its final x-y position.
void AnnotateTask(const std::string& task, ArchivePlot* plot) {
  const bool ant = absl::StartsWith(task, "ant_");
  if (task != common::kPointMazeName && !ant) return;
  plot->x_label = ant ? "final x (m)" : "final x";
  plot->y_label = ant ? "final y (m)" : "final y";
  if (ant) {
    plot->markers.push_back({0.0f, 0.0f, "start"});  // the torso starts at the origin
    if (task == common::kAntMazeName) {
      plot->markers.push_back({static_cast<float>(common::kAntMazeGoalX),
                               static_cast<float>(common::kAntMazeGoalY), "goal"});
    }
    return;
  }
  // The start is drawn from x ~ U(-0.1, 0.1), y ~ U(-1, -0.7) (common/point_maze.cc).
  plot->markers.push_back({0.0f, -0.85f, "start"});
  plot->markers.push_back({common::kPointMazeGoalX, common::kPointMazeGoalY, "goal"});
}

absl::Status WriteArchivePicture(const std::string& dir, const ExportedArchive& archive) {
  const gdaqd::v1::ArchiveHeader& header = archive.header;
  if (header.descriptor_dim() != 2) return absl::OkStatus();  // only 2-D archives are drawn
  const gdaqd::v1::ExperimentConfig& config = header.status().config();
  ArchivePlot plot;
  plot.title =
      absl::StrCat(config.env().task(), " · ", AlgorithmLabel(config.algorithm()), " · ",
                   WithThousands(header.status().progress().evaluations()), " evaluations");
  plot.x_low = header.descriptor_low(0);
  plot.x_high = header.descriptor_high(0);
  plot.y_low = header.descriptor_low(1);
  plot.y_high = header.descriptor_high(1);
  if (header.cells_per_dim_size() == 2) {
    plot.cells_x = header.cells_per_dim(0);
    plot.cells_y = header.cells_per_dim(1);
  }
  for (const gdaqd::v1::Elite& elite : archive.elites) {
    if (elite.centroid_size() != 2) continue;
    plot.filled.push_back({elite.cell(), elite.centroid(0), elite.centroid(1), elite.fitness()});
  }
  AnnotateTask(config.env().task(), &plot);
  absl::StatusOr<common::TaskSpec> spec =
      common::GetTaskSpec(config.env().task(), config.env().episode_length());
  if (spec.ok()) {
    for (const common::Obstacle& o : spec->obstacles) {
      plot.obstacles.push_back({o.x0, o.y0, o.x1, o.y1, o.radius});
    }
  }
  return WriteTextFile(Join(dir, "archive.svg"), RenderArchiveSvg(plot));
}

// One metric against evaluations; rows whose value is not finite are left out by the renderer.
Series MetricSeries(const std::string& label, const ExportedArchive& archive,
                    const std::function<double(const gdaqd::v1::ProgressSnapshot&)>& value) {
  Series series{label, {}, {}, {}, {}};
  for (const gdaqd::v1::ProgressSnapshot& row : archive.header.history()) {
    series.x.push_back(static_cast<double>(row.evaluations()));
    series.y.push_back(value(row));
  }
  return series;
}

// True if some row of `series` is finite and, with `nonzero`, not 0.
bool HasData(const Series& series, bool nonzero) {
  return std::any_of(series.y.begin(), series.y.end(),
                     [&](double y) { return std::isfinite(y) && (!nonzero || y != 0); });
}

// QD-score %, coverage % (both from 0 at 0 evaluations, on axes from 0) and max fitness (a
// staircase: it is a running maximum), then the learned models' panels when the run has them:
// imagined episodes, the ensemble's holdout NLL and the critic's loss.
absl::Status WriteProgressPicture(const std::string& dir, const ExportedArchive& archive) {
  using Row = gdaqd::v1::ProgressSnapshot;
  const gdaqd::v1::ExperimentConfig& config = archive.header.status().config();
  const std::string label = AlgorithmLabel(config.algorithm());
  Series qd = MetricSeries(label, archive, [](const Row& r) { return r.qd_score_pct(); });
  Series coverage = MetricSeries(label, archive, [](const Row& r) { return r.coverage_pct(); });
  for (Series* series : {&qd, &coverage}) {  // an empty archive before the first evaluation
    series->x.insert(series->x.begin(), 0.0);
    series->y.insert(series->y.begin(), 0.0);
  }
  Series fitness = MetricSeries(label, archive, [](const Row& r) { return r.max_fitness(); });
  fitness.steps = true;
  std::vector<Panel> panels = {{"QD-score %", {qd}, true},
                               {"coverage %", {coverage}, true},
                               {"max fitness", {fitness}, false}};
  const auto named = [](absl::string_view name) {
    return [name](const Row& r) { return ProgressMetric(r, name).value_or(kNan); };
  };
  const Series imagined = MetricSeries(label, archive, named("imagined_evaluations"));
  if (HasData(imagined, /*nonzero=*/true))
    panels.push_back({"imagined episodes", {imagined}, true});
  const Series nll = MetricSeries(label, archive, named("model_holdout_loss"));
  if (HasData(nll, /*nonzero=*/false)) panels.push_back({"model holdout NLL", {nll}, false});
  const Series critic = MetricSeries(label, archive, named("critic_loss"));
  if (HasData(critic, /*nonzero=*/false)) panels.push_back({"critic loss", {critic}, true});
  return WriteTextFile(
      Join(dir, "progress.svg"),
      RenderProgressSvg(absl::StrCat(config.env().task(), " · ", label), "evaluations", panels));
}

// metrics.csv's rows: the experiment's history.
std::vector<MetricsRow> MetricsRows(const gdaqd::v1::ArchiveHeader& header) {
  std::vector<MetricsRow> metrics;
  for (const gdaqd::v1::ProgressSnapshot& row : header.history()) {
    MetricsRow& m = metrics.emplace_back();
    m.iteration = row.iteration();
    m.evaluations = row.evaluations();
    m.qd_score = row.qd_score();
    m.qd_score_pct = row.qd_score_pct();
    m.coverage_pct = row.coverage_pct();
    m.max_fitness = row.max_fitness();
    m.wall_seconds = row.wall_seconds();
    // The learned-model columns from the named metrics (0 / NaN where the algorithm has none),
    // then every other named metric as an extra column.
    const auto metric = [&](absl::string_view name, double none) {
      return ProgressMetric(row, name).value_or(none);
    };
    m.imagined_evaluations = static_cast<int64_t>(metric("imagined_evaluations", 0));
    m.model_holdout_loss = metric("model_holdout_loss", kNan);
    m.model_holdout_mse = metric("model_holdout_mse", kNan);
    m.critic_loss = metric("critic_loss", kNan);
    m.evaluation_seconds = row.evaluation_seconds();  // the experiment's own, not an algorithm's
    m.imagination_seconds = metric("imagination_seconds", 0);
    m.training_seconds = metric("training_seconds", 0);
    m.gradient_seconds = metric("gradient_seconds", 0);
    for (const gdaqd::v1::Metric& named : row.metrics()) {
      if (!IsFixedMetricsColumn(named.name())) m.extra.push_back({named.name(), named.value()});
    }
  }
  return metrics;
}

}  // namespace

absl::Status WriteResultsFolder(const std::string& dir, const ExportedArchive& archive,
                                const Provenance* provenance) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  const gdaqd::v1::ArchiveHeader& header = archive.header;
  GDAQD_RETURN_IF_ERROR(WriteFileAtomically(Join(dir, "config.textproto"),
                                            PrintWithDefaults(header.status().config())));
  if (provenance != nullptr) {
    GDAQD_RETURN_IF_ERROR(
        WriteFileAtomically(Join(dir, "provenance.json"), ProvenanceJson(*provenance)));
  }
  std::string text;
  gdaqd::v1::ExperimentStatus status = header.status();
  status.clear_config();
  google::protobuf::TextFormat::PrintToString(status, &text);
  GDAQD_RETURN_IF_ERROR(WriteFileAtomically(Join(dir, "status.textproto"), text));

  GDAQD_RETURN_IF_ERROR(WriteMetricsCsv(Join(dir, "metrics.csv"), MetricsRows(header)));

  const int dim = std::max(1, header.descriptor_dim());
  const int64_t num_params = header.num_params();
  std::vector<ArchiveRow> rows;
  std::vector<float> params;
  params.reserve(archive.elites.size() * num_params);
  for (const gdaqd::v1::Elite& elite : archive.elites) {
    if (static_cast<int64_t>(elite.params().size()) != num_params * 4) {
      return absl::InternalError(absl::StrCat("elite of cell ", elite.cell(), " has ",
                                              elite.params().size() / 4, " parameters, expected ",
                                              num_params));
    }
    rows.push_back(
        {elite.cell(), std::vector<float>(elite.centroid().begin(), elite.centroid().end()),
         std::vector<float>(elite.behavior_descriptor().begin(), elite.behavior_descriptor().end()),
         elite.fitness()});
    const float* p = reinterpret_cast<const float*>(elite.params().data());
    params.insert(params.end(), p, p + num_params);
  }
  GDAQD_RETURN_IF_ERROR(WriteArchiveCsv(Join(dir, "archive.csv"), dim, rows));
  GDAQD_RETURN_IF_ERROR(WriteNpyFloat32(Join(dir, "archive_params.npy"),
                                        static_cast<int64_t>(archive.elites.size()), num_params,
                                        params));
  GDAQD_RETURN_IF_ERROR(WriteArchivePicture(dir, archive));
  GDAQD_RETURN_IF_ERROR(WriteProgressPicture(dir, archive));
  return absl::OkStatus();
}

absl::StatusOr<int> PrepareResultsFolder(const std::string& dir, bool force) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::exists(dir, error)) return 0;
  if (!fs::is_directory(dir, error)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a directory"));
  }
  std::vector<fs::path> ours;
  std::string other;  // one entry that is not ours, for the message
  int entries = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    ++entries;
    const std::string name = entry.path().filename().string();
    std::string base = name;
    if (absl::EndsWith(base, ".tmp")) base.resize(base.size() - 4);
    if (IsResultsFolderFile(base)) {
      ours.push_back(entry.path());
    } else if (other.empty()) {
      other = name;
    }
  }
  if (error)
    return absl::PermissionDeniedError(absl::StrCat("cannot list ", dir, ": ", error.message()));
  if (entries == 0) return 0;
  if (!force) {
    return absl::FailedPreconditionError(
        absl::StrCat("results folder ", dir, " is not empty (", entries, " entries, e.g. ",
                     ours.empty() ? other : ours.front().filename().string(),
                     "); choose another --out, or pass --force to replace the results in it"));
  }
  for (const fs::path& path : ours) {
    fs::remove_all(path, error);
    if (error) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot remove ", path.string(), ": ", error.message()));
    }
  }
  return static_cast<int>(ours.size());
}

absl::StatusOr<ResultsFolder> LoadResultsFolder(const std::string& dir) {
  ResultsFolder folder;
  GDAQD_ASSIGN_OR_RETURN(folder.config,
                         common::LoadStoredExperimentConfig(Join(dir, "config.textproto")));
  GDAQD_ASSIGN_OR_RETURN(folder.metrics, ReadMetricsCsv(Join(dir, "metrics.csv")));
  GDAQD_ASSIGN_OR_RETURN(folder.archive, ReadArchiveCsv(Join(dir, "archive.csv")));
  GDAQD_ASSIGN_OR_RETURN(folder.params, ReadNpyFloat32(Join(dir, "archive_params.npy")));
  if (folder.params.rows != static_cast<int64_t>(folder.archive.size())) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": archive_params.npy has ",
                                                   folder.params.rows, " rows, archive.csv has ",
                                                   folder.archive.size()));
  }
  GDAQD_ASSIGN_OR_RETURN(common::MlpLayout layout,
                         common::PolicyLayout(folder.config.env(), folder.config.policy()));
  if (folder.params.rows > 0 && folder.params.cols != layout.num_params()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": archive_params.npy has ", folder.params.cols,
                     " columns, the config's policy has ", layout.num_params(), " parameters"));
  }
  return folder;
}

absl::StatusOr<ComparedRun> LoadComparedRun(const std::string& dir) {
  ComparedRun run;
  GDAQD_ASSIGN_OR_RETURN(const gdaqd::v1::ExperimentConfig config,
                         common::LoadStoredExperimentConfig(Join(dir, "config.textproto")));
  run.task = config.env().task();
  run.algorithm = common::AlgorithmName(config.algorithm());
  run.name = dir;
  GDAQD_ASSIGN_OR_RETURN(run.metrics, ReadMetricsCsv(Join(dir, "metrics.csv")));
  return run;
}

}  // namespace gdaqd::client
