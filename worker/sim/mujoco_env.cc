#include "worker/sim/mujoco_env.h"

#include <mujoco/mujoco.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/ant_tasks.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/task.h"
#include "worker/sim/ant_model.h"
#include "worker/sim/mujoco_handles.h"

namespace gdaqd::worker {
namespace {

using common::kAntNq;
using common::kAntNv;

// Reset noise half-width on joint angles (rad) and joint velocities (rad/s), as Gymnasium's
// reset_noise_scale and Brax's joint noise.
constexpr double kResetNoise = 0.1;
// qpos/qvel index of the first leg joint (after the free joint's 7 and 6 coordinates).
constexpr int kFirstJointQpos = 7;
constexpr int kFirstJointQvel = 6;

// The warnings after which the physics of an mjData can no longer be trusted.
constexpr int kDivergenceWarnings[] = {mjWARN_INERTIA, mjWARN_CONTACTFULL, mjWARN_CNSTRFULL,
                                       mjWARN_BADQPOS, mjWARN_BADQVEL,     mjWARN_BADQACC,
                                       mjWARN_BADCTRL};

// Uniform double in [-1, 1) from the top 53 bits of one 64-bit draw (portable across standard
// libraries, unlike std::uniform_real_distribution).
double UniformSigned(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-52 - 1.0;
}

bool AllFinite(const mjtNum* values, int n) {
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) return false;
  }
  return true;
}

absl::Status CheckAntModel(const mjModel& model) {
  if (model.nq != kAntNq || model.nv != kAntNv || model.nu != common::kAntActionDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("model has nq ", model.nq, ", nv ", model.nv, ", nu ", model.nu,
                     "; the ant has nq ", kAntNq, ", nv ", kAntNv, ", nu ", common::kAntActionDim));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MujocoAntEnvironment>> MujocoAntEnvironment::Create(
    const common::TaskSpec& spec) {
  GDAQD_ASSIGN_OR_RETURN(std::shared_ptr<const mjModel> model, SharedAntModel(spec.name));
  return Create(spec, std::move(model));
}

absl::StatusOr<std::unique_ptr<MujocoAntEnvironment>> MujocoAntEnvironment::Create(
    const common::TaskSpec& spec, std::shared_ptr<const mjModel> model) {
  CHECK(model != nullptr);
  const std::optional<common::AntTask> task = common::AntTaskFromName(spec.name);
  if (!task.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("task '", spec.name, "' is not an ant task"));
  }
  if (spec.obs_dim != common::kAntObsDim || spec.action_dim != common::kAntActionDim ||
      spec.descriptor_dim != common::kAntDescriptorDim || spec.episode_length < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec of ", spec.name, " has obs_dim ", spec.obs_dim, ", action_dim ",
                     spec.action_dim, ", descriptor_dim ", spec.descriptor_dim, ", episode_length ",
                     spec.episode_length, "; expected 29, 8, 2, >= 1"));
  }
  GDAQD_RETURN_IF_ERROR(CheckAntModel(*model));
  MjDataPtr data(mj_makeData(model.get()));
  if (data == nullptr) return absl::ResourceExhaustedError("mj_makeData failed");
  return std::unique_ptr<MujocoAntEnvironment>(
      new MujocoAntEnvironment(spec, *task, std::move(model), std::move(data)));
}

MujocoAntEnvironment::MujocoAntEnvironment(const common::TaskSpec& spec, common::AntTask task,
                                           std::shared_ptr<const mjModel> model, MjDataPtr data)
    : spec_(spec), task_(task), model_(std::move(model)), data_(std::move(data)) {}

void MujocoAntEnvironment::Reset(uint64_t seed, absl::Span<float> obs) {
  mjData* d = data_.get();
  mj_resetData(model_.get(), d);  // qpos0, zero velocities, time 0, warnings cleared
  std::mt19937_64 rng(seed);
  for (int i = 0; i < common::kAntActionDim; ++i) {
    d->qpos[kFirstJointQpos + i] += kResetNoise * UniformSigned(rng);
  }
  for (int i = 0; i < common::kAntActionDim; ++i) {
    d->qvel[kFirstJointQvel + i] = kResetNoise * UniformSigned(rng);
  }
  mj_forward(model_.get(), d);
  diverged_ = false;
  Observe(obs);
}

absl::Status MujocoAntEnvironment::ResetToState(absl::Span<const double> qpos,
                                                absl::Span<const double> qvel,
                                                absl::Span<float> obs) {
  if (qpos.size() != static_cast<size_t>(kAntNq) || qvel.size() != static_cast<size_t>(kAntNv)) {
    return absl::InvalidArgumentError(absl::StrCat("state has ", qpos.size(), " qpos and ",
                                                   qvel.size(), " qvel values, the ant has ",
                                                   kAntNq, " and ", kAntNv));
  }
  mjData* d = data_.get();
  mj_resetData(model_.get(), d);
  mju_copy(d->qpos, qpos.data(), kAntNq);
  mju_copy(d->qvel, qvel.data(), kAntNv);
  mj_forward(model_.get(), d);
  diverged_ = false;
  Observe(obs);
  return absl::OkStatus();
}

common::StepResult MujocoAntEnvironment::Step(absl::Span<const float> action,
                                              absl::Span<float> next_obs) {
  DCHECK_EQ(action.size(), static_cast<size_t>(common::kAntActionDim));
  common::StepResult result;
  mjData* d = data_.get();
  for (int i = 0; i < common::kAntActionDim; ++i) {
    if (!std::isfinite(action[i])) diverged_ = true;
    d->ctrl[i] = common::ClipAntControl(action[i]);
  }
  if (!diverged_) {
    const common::AntState before = state();
    for (int k = 0; k < common::kAntFrameSkip && !diverged_; ++k) {
      mj_step(model_.get(), d);
      diverged_ = HasDivergenceWarning();
    }
    // RK4 only checks the state at the start of mj_step, so the last step's NaNs surface here.
    diverged_ = diverged_ || !AllFinite(d->qpos, kAntNq) || !AllFinite(d->qvel, kAntNv);
    if (!diverged_) {
      const common::AntState after = state();
      result.reward = common::AntReward(task_, before, after, action);
      result.terminated = common::AntTerminated(task_, after);
    }
  }
  result.diverged = diverged_;
  Observe(next_obs);
  return result;
}

void MujocoAntEnvironment::Descriptor(absl::Span<float> out) const {
  common::AntDescriptor(task_, state(), out);
}

common::AntState MujocoAntEnvironment::state() const {
  return common::AntStateFromQpos(absl::MakeConstSpan(data_->qpos, kAntNq));
}

void MujocoAntEnvironment::Observe(absl::Span<float> obs) const {
  common::AntObservation(task_, absl::MakeConstSpan(data_->qpos, kAntNq),
                         absl::MakeConstSpan(data_->qvel, kAntNv), obs);
}

bool MujocoAntEnvironment::HasDivergenceWarning() const {
  for (int warning : kDivergenceWarnings) {
    if (data_->warning[warning].number > 0) return true;
  }
  return false;
}

}  // namespace gdaqd::worker
