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

// Builds an environment for `spec` (a spec from GetTaskSpec()). Returns an error status if the
// environment cannot be built (e.g. its model fails to load).
using EnvironmentFactory =
    std::function<absl::StatusOr<std::unique_ptr<Environment>>(const TaskSpec& spec)>;

// Registers the factory of a task whose environment lives outside gdaqd_common (the MuJoCo
// tasks: worker/sim/mujoco_tasks.h). The first registration of a name wins; later ones are
// ignored, so registering twice is harmless. point_maze is built in and needs none.
// Thread-safe. Precondition (CHECKed): `factory` is not empty.
void RegisterEnvironmentFactory(const std::string& task, EnvironmentFactory factory);

// Creates one environment of `task` whose spec() is GetTaskSpec(task, episode_length).
// Same errors as GetTaskSpec(), plus FailedPrecondition "task 'ant_trap' needs the MuJoCo
// simulator, which this program does not link" for a known task without a registered factory,
// and the factory's own errors. Thread-safe.
absl::StatusOr<std::unique_ptr<Environment>> MakeEnvironment(std::string_view task,
                                                             int episode_length);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_TASK_H_
