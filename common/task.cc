#include "common/task.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/ant_tasks.h"
#include "common/logging.h"
#include "common/point_maze.h"
#include "common/status_macros.h"

namespace gdaqd::common {
namespace {

// The task names GetTaskSpec() knows, for error messages.
constexpr char kKnownTasks[] = "point_maze, ant_trap, ant_maze, ant_omni";

// Debian's abseil is built with its own absl::string_view, hence the explicit conversions.
absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status UnknownTask(std::string_view task) {
  return absl::InvalidArgumentError(
      absl::StrCat("unknown task '", ToAbsl(task), "' (known: ", kKnownTasks, ")"));
}

absl::Status CheckEpisodeLength(int episode_length) {
  if (episode_length < 0) {
    return absl::InvalidArgumentError(absl::StrCat("episode_length is ", episode_length,
                                                   ", must be >= 0 (0 selects the task default)"));
  }
  return absl::OkStatus();
}

// Factories of the tasks whose environments live outside this library. Thread-safe; never
// destroyed, so MakeEnvironment() stays usable during static destruction.
class FactoryRegistry {
 public:
  static FactoryRegistry& Get() {
    static FactoryRegistry* registry = new FactoryRegistry();
    return *registry;
  }

  void Register(const std::string& task, EnvironmentFactory factory) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    factories_.emplace(task, std::move(factory));  // keeps the first registration
  }

  // A copy, so the factory runs outside the lock.
  std::optional<EnvironmentFactory> Find(std::string_view task) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const auto it = factories_.find(task);
    if (it == factories_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, EnvironmentFactory, std::less<>> factories_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

// Specs are a plain name switch: every task's spec is known everywhere, simulator or not.
absl::StatusOr<TaskSpec> GetTaskSpec(std::string_view task, int episode_length) {
  GDAQD_RETURN_IF_ERROR(CheckEpisodeLength(episode_length));
  if (task == kPointMazeName) {
    return PointMazeSpec(episode_length == 0 ? kPointMazeDefaultEpisodeLength : episode_length);
  }
  if (const std::optional<AntTask> ant = AntTaskFromName(task); ant.has_value()) {
    return AntSpec(*ant, episode_length == 0 ? AntDefaultEpisodeLength(*ant) : episode_length);
  }
  return UnknownTask(task);
}

void RegisterEnvironmentFactory(const std::string& task, EnvironmentFactory factory) {
  CHECK(factory) << "empty environment factory for task " << task;
  FactoryRegistry::Get().Register(task, std::move(factory));
}

const char* PointMazeActionMapName(PointMazeActionMap map) {
  switch (map) {
    case PointMazeActionMap::kClip01:
      return "CLIP_0_1";
    case PointMazeActionMap::kClip1Divide10:
      return "CLIP_1_DIVIDE_10";
  }
  LOG(FATAL) << "invalid PointMazeActionMap " << static_cast<int>(map);
}

absl::StatusOr<std::unique_ptr<Environment>> MakeEnvironment(std::string_view task,
                                                             int episode_length,
                                                             const EnvironmentOptions& options) {
  GDAQD_ASSIGN_OR_RETURN(TaskSpec spec, GetTaskSpec(task, episode_length));
  if (task == kPointMazeName) {
    return std::make_unique<PointMaze>(spec.episode_length, options.point_maze_action_map);
  }
  const std::optional<EnvironmentFactory> factory = FactoryRegistry::Get().Find(task);
  if (!factory.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task '", ToAbsl(task), "' needs the MuJoCo simulator, which this program does not link"));
  }
  return (*factory)(spec);
}

}  // namespace gdaqd::common
