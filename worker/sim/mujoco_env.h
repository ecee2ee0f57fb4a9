// The MuJoCo ant environments (ant_trap, ant_maze, ant_omni): one mjData stepping the shared,
// read-only model of the task (ant_model.h), with rewards, terminations, observations and
// descriptors from common/ant_tasks.h.
#ifndef GDAQD_WORKER_SIM_MUJOCO_ENV_H_
#define GDAQD_WORKER_SIM_MUJOCO_ENV_H_

#include <mujoco/mujoco.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/ant_tasks.h"
#include "common/task.h"
#include "worker/sim/mujoco_handles.h"

namespace gdaqd::worker {

// One ant environment. Owns its mjData (reused across episodes through mj_resetData) and shares
// the task's const mjModel with every other environment of the task.
//
// Episode semantics: Reset(seed) puts the torso at (0, 0, 0.75), upright and at rest, the 8
// joint angles at Gymnasium's qpos0 (0) plus U(-0.1, 0.1) and the 8 joint velocities at
// U(-0.1, 0.1), all drawn from std::mt19937_64(seed): a pure function of the seed. Step() clips
// the action to [-1, 1], writes it to ctrl and runs kAntFrameSkip mj_step calls (0.05 s).
//
// Divergence: a non-finite action, any MuJoCo warning raised by this mjData during the step
// (bad qpos/qvel/qacc/ctrl, too many contacts or constraints, singular inertia; MuJoCo then
// resets the mjData itself) or a non-finite qpos/qvel afterwards marks the step diverged (reward
// 0). Every later Step() also reports diverged until the next Reset(); the environment itself
// stays usable.
//
// Single-thread (see common::Environment); distinct instances may run on different threads.
class MujocoAntEnvironment final : public common::Environment {
 public:
  // An environment of spec.name ("ant_trap", ...) on SharedAntModel(spec.name). Returns
  // InvalidArgument if spec.name is not an ant task or spec does not have the ant's dimensions,
  // and the model's load errors.
  static absl::StatusOr<std::unique_ptr<MujocoAntEnvironment>> Create(const common::TaskSpec& spec);
  // The same on a given model (tests). Returns InvalidArgument unless the model has the ant's
  // sizes (nq 15, nv 14, nu 8). Precondition: `model` is not null.
  static absl::StatusOr<std::unique_ptr<MujocoAntEnvironment>> Create(
      const common::TaskSpec& spec, std::shared_ptr<const mjModel> model);

  const common::TaskSpec& spec() const override { return spec_; }
  void Reset(uint64_t seed, absl::Span<float> obs) override;
  common::StepResult Step(absl::Span<const float> action, absl::Span<float> next_obs) override;
  // Torso (x, y) from qpos, clipped to the task's box.
  void Descriptor(absl::Span<float> out) const override;

  // Resets to an arbitrary state (tests, visualisation) and writes its observation: qpos [15]
  // and qvel [14] in MuJoCo's layout. Nothing is validated physically; absurd states diverge on
  // the next Step(). Returns InvalidArgument on wrong sizes.
  absl::Status ResetToState(absl::Span<const double> qpos, absl::Span<const double> qvel,
                            absl::Span<float> obs);

  common::AntTask task() const { return task_; }
  // The torso position now.
  common::AntState state() const;
  const mjModel& model() const { return *model_; }
  const mjData& data() const { return *data_; }

 private:
  MujocoAntEnvironment(const common::TaskSpec& spec, common::AntTask task,
                       std::shared_ptr<const mjModel> model, MjDataPtr data);
  // Writes the current observation.
  void Observe(absl::Span<float> obs) const;
  // Whether this mjData has raised any warning that invalidates the physics since its reset.
  bool HasDivergenceWarning() const;

  const common::TaskSpec spec_;
  const common::AntTask task_;
  const std::shared_ptr<const mjModel> model_;  // shared, read-only
  const MjDataPtr data_;                        // this environment's state
  bool diverged_ = false;                       // since the last reset
};

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_SIM_MUJOCO_ENV_H_
