#include "common/task.h"

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/point_maze.h"
#include "common/status_macros.h"

namespace gdaqd::common {
namespace {

// The registered task names, for error messages.
constexpr char kKnownTasks[] = "point_maze";

// Debian's abseil is built with its own absl::string_view, hence the explicit conversions.
absl::Status UnknownTask(std::string_view task) {
  return absl::InvalidArgumentError(absl::StrCat("unknown task '",
                                                 absl::string_view(task.data(), task.size()),
                                                 "' (known: ", kKnownTasks, ")"));
}

absl::Status CheckEpisodeLength(int episode_length) {
  if (episode_length < 0) {
    return absl::InvalidArgumentError(absl::StrCat("episode_length is ", episode_length,
                                                   ", must be >= 0 (0 selects the task default)"));
  }
  return absl::OkStatus();
}

}  // namespace

// The registry is a plain name switch; the MuJoCo tasks (ant_trap, ant_maze, ...) join it later,
// each with its own default episode length.
absl::StatusOr<TaskSpec> GetTaskSpec(std::string_view task, int episode_length) {
  GDAQD_RETURN_IF_ERROR(CheckEpisodeLength(episode_length));
  if (task == kPointMazeName) {
    return PointMazeSpec(episode_length == 0 ? kPointMazeDefaultEpisodeLength : episode_length);
  }
  return UnknownTask(task);
}

absl::StatusOr<std::unique_ptr<Environment>> MakeEnvironment(std::string_view task,
                                                             int episode_length) {
  GDAQD_RETURN_IF_ERROR(CheckEpisodeLength(episode_length));
  if (task == kPointMazeName) {
    return std::make_unique<PointMaze>(episode_length == 0 ? kPointMazeDefaultEpisodeLength
                                                           : episode_length);
  }
  return UnknownTask(task);
}

}  // namespace gdaqd::common
