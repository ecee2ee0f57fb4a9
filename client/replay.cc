#include "client/replay.h"

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "client/results/atomic_file.h"
#include "client/results/csv.h"
#include "client/results_folder.h"
#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/status_macros.h"
#include "common/task.h"

namespace gdaqd::client {
namespace {

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

std::string TrajectoryCsv(const common::TaskSpec& spec, const std::vector<float>& transitions) {
  const int obs = spec.obs_dim, act = spec.action_dim;
  const int row_size = common::TransitionRowSize(obs, act);
  std::string csv = "step";
  for (int i = 0; i < obs; ++i) absl::StrAppend(&csv, ",obs_", i);
  for (int i = 0; i < act; ++i) absl::StrAppend(&csv, ",action_", i);
  absl::StrAppend(&csv, ",reward,done\n");
  const size_t rows = transitions.size() / row_size;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = &transitions[r * row_size];
    absl::StrAppend(&csv, r);
    // Row layout (common/rollout.h): obs, action, reward, next_obs, done, truncated.
    for (int i = 0; i < obs + act + 1; ++i) absl::StrAppend(&csv, absl::StrFormat(",%.9g", row[i]));
    absl::StrAppend(&csv, ",", static_cast<int>(row[obs + act + 1 + obs]), "\n");
  }
  return csv;
}

}  // namespace

absl::StatusOr<ReplayResult> ReplayElite(const std::string& results_dir, int64_t cell,
                                         const std::string& out_dir) {
  GDAQD_ASSIGN_OR_RETURN(ResultsFolder folder, LoadResultsFolder(results_dir));
  int64_t row = -1;
  for (size_t i = 0; i < folder.archive.size(); ++i) {
    if (folder.archive[i].cell == cell) row = static_cast<int64_t>(i);
  }
  if (row < 0) {
    return absl::NotFoundError(absl::StrCat("no elite in cell ", cell, " of ", results_dir,
                                            "/archive.csv (", folder.archive.size(),
                                            " filled cells)"));
  }
  const gdaqd::v1::EnvConfig& env_config = folder.config.env();
  GDAQD_ASSIGN_OR_RETURN(common::MlpLayout layout,
                         common::PolicyLayout(env_config, folder.config.policy()));
  absl::Span<const float> params(&folder.params.data[row * folder.params.cols], folder.params.cols);
  GDAQD_ASSIGN_OR_RETURN(common::MlpPolicy policy, common::MlpPolicy::Create(layout, params));
  GDAQD_ASSIGN_OR_RETURN(const common::EnvironmentOptions env_options,
                         common::EnvironmentOptionsFromConfig(env_config));
  GDAQD_ASSIGN_OR_RETURN(
      std::unique_ptr<common::Environment> env,
      common::MakeEnvironment(env_config.task(), env_config.episode_length(), env_options));
  common::EpisodeResult episode;
  common::RunEpisode(*env, policy, env_config.reset_seed(), /*record_transitions=*/true, &episode);

  ReplayResult result;
  result.cell = cell;
  result.archived_fitness = folder.archive[row].fitness;
  result.archived_descriptor = folder.archive[row].descriptor;
  result.fitness = episode.fitness;
  result.descriptor = episode.descriptor;
  result.length = episode.length;
  result.matches = SameBits(result.fitness, result.archived_fitness) &&
                   result.descriptor.size() == result.archived_descriptor.size();
  for (size_t i = 0; result.matches && i < result.descriptor.size(); ++i) {
    result.matches = SameBits(result.descriptor[i], result.archived_descriptor[i]);
  }
  const std::string dir = out_dir.empty() ? results_dir : out_dir;
  result.trajectory_path =
      (std::filesystem::path(dir) / absl::StrCat("trajectory_", cell, ".csv")).string();
  GDAQD_RETURN_IF_ERROR(
      WriteFileAtomically(result.trajectory_path, TrajectoryCsv(env->spec(), episode.transitions)));
  return result;
}

absl::StatusOr<int64_t> FittestCell(const std::string& results_dir) {
  GDAQD_ASSIGN_OR_RETURN(
      const std::vector<ArchiveRow> rows,
      ReadArchiveCsv((std::filesystem::path(results_dir) / "archive.csv").string()));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat(results_dir, "/archive.csv has no elites"));
  }
  const ArchiveRow* best = &rows.front();
  for (const ArchiveRow& row : rows) {
    if (row.fitness > best->fitness || (row.fitness == best->fitness && row.cell < best->cell)) {
      best = &row;
    }
  }
  return best->cell;
}

}  // namespace gdaqd::client
