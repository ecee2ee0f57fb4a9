// The task interface: what a task looks like from outside (TaskSpec), one simulated instance of
// it (Environment), and the registry that maps task names to both. Workers step real
// environments; the coordinator uses the same specs for archives, plots and imagined rollouts.
#ifndef GDAQD_COMMON_TASK_H_
#define GDAQD_COMMON_TASK_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::common {

// A capsule obstacle, for pictures only: the segment (x0, y0)-(x1, y1) thickened by `radius`
// on every side. All values in descriptor (data) units.
struct Obstacle {
  float x0, y0, x1, y1, radius;
};

// Static description of a task. A plain value, freely copyable.
struct TaskSpec {
  std::string name;  // registry name, e.g. "point_maze"
  int obs_dim = 0, action_dim = 0, descriptor_dim = 0;
  int episode_length = 0;  // maximum number of steps of an episode, >= 1
  // Descriptor box, [descriptor_dim] each; descriptors are clipped into it.
  std::vector<float> descriptor_low, descriptor_high;
  // Added to every step's reward to make QD scores positive (QDax convention), e.g. 2.3431 for
  // point_maze.
  double reward_offset = 0;
  // Bounds of one step's reward (without reward_offset), true for every step of every episode
  // from any policy: min_step_reward <= StepResult::reward <= max_step_reward. An episode of n
  // counted steps has a fitness in [n * min_step_reward, n * max_step_reward], which is what the
  // coordinator checks workers' results against (server/scheduler/result_validation.h).
  //   point_maze: [-2.3431, 0]   (-distance to the goal from inside [-1, 1]^2)
  //   ant_trap:   [-103, 101]    (forward velocity bounded by 100 m/s, see common/ant_tasks.cc)
  //   ant_maze:   [-(35 + 5 * episode_length), 0]  (-distance to (35, 0): the start's 35 m plus
  //               100 m/s for the whole episode, see common/ant_tasks.cc)
  //   ant_omni:   [-3, 1]        (1 - 0.5 |clip(a)|^2 over 8 actions in [-1, 1])
  // The defaults (-inf, +inf) mean "unknown": nothing is checked.
  double min_step_reward = -std::numeric_limits<double>::infinity();
  double max_step_reward = std::numeric_limits<double>::infinity();
  std::vector<Obstacle> obstacles;  // walls to draw (point_maze: its two walls as thin capsules)
};

// Outcome of one Environment::Step().
struct StepResult {
  float reward = 0;
  bool terminated = false;  // the task ended the episode (goal reached, robot fell, ...)
  bool diverged = false;    // the simulation became invalid (NaN state, solver failure)
};

// One simulated environment of a task. Owns its state; reused across episodes.
// Single-thread: use one instance per worker thread.
class Environment {
 public:
  virtual ~Environment() = default;

  // The task this environment simulates. Lives as long as the environment.
  virtual const TaskSpec& spec() const = 0;

  // Resets to the initial state determined by `seed` (same seed, same state) and writes its
  // observation. Precondition: obs.size() == spec().obs_dim.
  virtual void Reset(uint64_t seed, absl::Span<float> obs) = 0;

  // Applies the raw policy action (the task clips and scales it itself) and writes the next
  // observation. Preconditions: Reset() was called; action.size() == spec().action_dim and
  // next_obs.size() == spec().obs_dim. Stepping past termination or episode_length is allowed;
  // the caller decides when an episode ends.
  virtual StepResult Step(absl::Span<const float> action, absl::Span<float> next_obs) = 0;

  // Writes the descriptor of the current state, clipped to the descriptor box.
  // Precondition: out.size() == spec().descriptor_dim.
  virtual void Descriptor(absl::Span<float> out) const = 0;
};

// Returns the spec of `task` with `episode_length` steps; 0 selects the task default
// (point_maze 250, ant_trap 250, ant_maze 500, ant_omni 250). Specs need no simulator, so every
// program (the coordinator included) knows every task.
// Returns InvalidArgument "unknown task 'x' (known: point_maze, ant_trap, ant_maze, ant_omni)"
// for an unknown name and InvalidArgument if episode_length is negative.
absl::StatusOr<TaskSpec> GetTaskSpec(std::string_view task, int episode_length);

// How point_maze turns a raw policy action into a displacement (research/tasks.md §1.1; the
// config's env.action_map). Both move at most 0.1 per axis per step; they differ for every
// action inside (-1, 1), i.e. for every tanh policy.
enum class PointMazeActionMap {
  // Clip each component to [-0.1, 0.1], no division: QDax v0.1.0, the paper's. The default.
  kClip01,
  // Clip each component to [-1, 1], then divide by 10: QDax >= v0.2.0 (1 Nov 2022).
  kClip1Divide10,
};

// Returns "CLIP_0_1" or "CLIP_1_DIVIDE_10", the config's names of the maps.
const char* PointMazeActionMapName(PointMazeActionMap map);

// What selects an environment beyond its spec. A plain value, freely copyable; the defaults are
// the paper's. Fields that do not apply to a task are ignored by it.
struct EnvironmentOptions {
  PointMazeActionMap point_maze_action_map = PointMazeActionMap::kClip01;  // point_maze only

  bool operator==(const EnvironmentOptions&) const = default;
};

// Builds an environment for `spec` (a spec from GetTaskSpec()). Returns an error status if the
// environment cannot be built (e.g. its model fails to load).
using EnvironmentFactory =
    std::function<absl::StatusOr<std::unique_ptr<Environment>>(const TaskSpec& spec)>;

// Registers the factory of a task whose environment lives outside gdaqd_common (the MuJoCo
// tasks: worker/sim/mujoco_tasks.h). The first registration of a name wins; later ones are
// ignored, so registering twice is harmless. point_maze is built in and needs none.
// Thread-safe. Precondition (CHECKed): `factory` is not empty.
void RegisterEnvironmentFactory(const std::string& task, EnvironmentFactory factory);

// Creates one environment of `task` whose spec() is GetTaskSpec(task, episode_length), built
// with `options` (programs that run a config's episodes pass EnvironmentOptionsFromConfig() of
// common/config/config.h; leaving it out means the defaults, the paper's).
// Same errors as GetTaskSpec(), plus FailedPrecondition "task 'ant_trap' needs the MuJoCo
// simulator, which this program does not link" for a known task without a registered factory,
// and the factory's own errors. Thread-safe.
absl::StatusOr<std::unique_ptr<Environment>> MakeEnvironment(
    std::string_view task, int episode_length, const EnvironmentOptions& options = {});

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_TASK_H_
